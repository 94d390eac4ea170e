"""JSON: the whole ReportData, stable keys (schema ``edge-model-advisor/report``, version 1)."""

from __future__ import annotations

from advisor.output import dumps_json
from advisor.report.model import ReportData


def render_json(data: ReportData) -> str:
    return dumps_json(data.to_dict()) + "\n"
