"""Procurement reports: one data structure (``model.build_report``) rendered to HTML, PDF,
Markdown, CSV, JSON and XLSX. The renderers import their libraries lazily (the ``report`` extra)."""

from advisor.report.model import ReportData, build_report
from advisor.report.requirements import Requirements, load_requirements

__all__ = ["ReportData", "Requirements", "build_report", "load_requirements"]
