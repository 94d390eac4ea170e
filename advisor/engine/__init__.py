"""The prediction engine: pure functions over typed records.

It imports neither psutil, llama_cpp, click, streamlit nor jinja2 (a test enforces it).
"""
