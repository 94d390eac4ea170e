"""CSV: the comparison table (devices × models), raw numbers with units in the column names."""

from __future__ import annotations

import csv
import io

from advisor.output import csv_cell
from advisor.report.model import COMPARISON_COLUMNS, ReportData


def render_csv(data: ReportData) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    keys = [k for k, _ in COMPARISON_COLUMNS]
    writer.writerow(keys)
    for row in data.comparison:
        writer.writerow([csv_cell(row.get(k)) for k in keys])
    return buf.getvalue()
