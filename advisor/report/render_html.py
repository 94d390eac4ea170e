"""HTML: one self-contained file (plotly.js inlined, no CDN, no network), interactive charts."""

from __future__ import annotations

from advisor.errors import missing_extra
from advisor.report.charts import plotly_figures
from advisor.report.model import ReportData
from advisor.report.views import CHART_CAPTIONS, header_line, sections

#: plotly's own config: no logo link (it would point off the machine).
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True, "toImageButtonOptions": {"format": "png", "scale": 2}}


def render_html(data: ReportData) -> str:
    try:
        import jinja2
        import plotly.io as pio
        from markupsafe import Markup
        from plotly.offline import get_plotlyjs
    except ImportError as exc:
        raise missing_extra(exc.name or "jinja2", "report") from None
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("advisor.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        trim_blocks=True, lstrip_blocks=True,
    )
    charts = {
        key: pio.to_html(fig, include_plotlyjs=False, full_html=False, config=PLOTLY_CONFIG, div_id=f"plot-{key}",
                         include_mathjax=False)
        for key, fig in plotly_figures(data).items()
    }
    template = env.get_template("report.html.j2")
    return template.render(
        data=data, sections=sections(data), header=header_line(data), charts=charts, captions=CHART_CAPTIONS,
        plotly_js=Markup(get_plotlyjs()),
    )
