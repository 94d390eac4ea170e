"""Parts of the Streamlit dashboard (``dashboard.py``) that need no Streamlit: the figures
(``plots``), the rows behind its tables (``rows``) and its own words (``words``)."""
