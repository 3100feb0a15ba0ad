"""`ntpd-ivr report`: the answer-time figures for a period, read from ``calls``."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import datetime

from ntpd_ivr.i18n import translator
from ntpd_ivr.incidents.commitments import AgencyFigures, flat, render_table
from ntpd_ivr.reports.model import THRESHOLDS, Figures


def _fmt(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:g}{unit}"


def render(figures: Figures, fmt: str, *, start: datetime, end: datetime,
           region: str | None, agencies: Sequence[AgencyFigures] = ()) -> str:
    if fmt == "json":
        return json.dumps({"from": start.isoformat(), "to": end.isoformat(),
                           "region": region, **figures.as_dict(),
                           "agencies": [line.as_dict() for line in agencies]}, indent=2)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["figure", "value"])
        for key, value in figures.as_dict().items():
            if isinstance(value, dict):
                for name, count in value.items():
                    writer.writerow([f"{key}.{name}", count])
            else:
                writer.writerow([key, "" if value is None else value])
        for line in agencies:
            for key, value in flat(line.as_dict(), f"agencies.{line.region}.{line.agency}"):
                writer.writerow([key, "" if value is None else value])
        return out.getvalue().rstrip("\n")
    lines = [f"112 calls from {start.isoformat()} to {end.isoformat()}"
             + (f", region {region}" if region else ""),
             f"  offered                      {figures.offered}",
             f"  answered                     {figures.answered}"
             + (f" ({figures.answered_time_unknown} with unknown answer time, from the CDR)"
                if figures.answered_time_unknown else ""),
             f"  abandoned                    {figures.abandoned}",
             f"  abandon rate                 {_fmt(figures.abandon_rate, ' %')}"]
    if figures.in_progress:
        lines.append(f"  still in progress            {figures.in_progress}")
    if figures.unconfirmed:
        lines.append(f"  unconfirmed (not offered)    {figures.unconfirmed}")
    for threshold in THRESHOLDS:
        lines.append(f"  answered within {threshold:>2} s         "
                     f"{_fmt(figures.answered_within[threshold], ' %')} of offered")
    lines += [f"  average answer time          {_fmt(figures.average_answer_seconds, ' s')}",
              f"  average of the slowest 10 %  "
              f"{_fmt(figures.slowest_10pct_average_seconds, ' s')}"]
    words = translator("en")  # the CLI speaks English; codes in words (the catalogue's)
    for title, counts, kind in (("by disposition", figures.by_disposition, "call"),
                                ("by category", figures.by_category, None),
                                ("by region", figures.by_region, None)):
        lines.append(f"  {title}:")
        lines += [f"    {words.code(kind, name) if kind else name:<26} {count}"
                  for name, count in counts.items()]
    return "\n".join([*lines, "", render_table(agencies)])
