"""`ntpd-ivr report`: the answer-time figures for a period, read from ``calls``."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from ntpd_ivr.i18n import translator
from ntpd_ivr.incidents.commitments import AgencyFigures, flat, render_table
from ntpd_ivr.reports.model import THRESHOLDS, Figures


def _fmt(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:g}{unit}"


def texts_table(texts: Mapping[str, Any]) -> list[str]:
    """The text sessions' figures (model.text_figures) as the table's lines: the CLI's
    table, with and without --by."""
    lines = ["112 by text (SMS sessions opened in the period; not in the call figures)",
             f"  sessions                     {texts['sessions']}",
             f"  taken by a call-taker        {texts['taken']}",
             f"  unanswered (offer timed out) {texts['unanswered']}",
             f"  replied                      {texts['replied']}",
             f"  still in progress            {texts['in_progress']}",
             f"  first reply p50              {_fmt(texts['first_reply_p50_seconds'], ' s')}",
             f"  first reply p90              {_fmt(texts['first_reply_p90_seconds'], ' s')}",
             "  by category:"]
    lines += [f"    {name:<26} {count}" for name, count in texts["by_category"].items()]
    return lines


def render(figures: Figures, fmt: str, *, start: datetime, end: datetime,
           region: str | None, agencies: Sequence[AgencyFigures] = (),
           texts: Mapping[str, Any] | None = None) -> str:
    if fmt == "json":
        return json.dumps({"from": start.isoformat(), "to": end.isoformat(),
                           "region": region, **figures.as_dict(),
                           "agencies": [line.as_dict() for line in agencies],
                           **({"texts": dict(texts)} if texts is not None else {})},
                          indent=2)
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
        for key, value in flat(texts or {}, "texts"):
            writer.writerow([key, "" if value is None else value])
        return out.getvalue().rstrip("\n")
    lines = [f"112 calls from {start.isoformat()} to {end.isoformat()}"
             + (f", region {region}" if region else ""),
             f"  offered                      {figures.offered}",
             f"  answered                     {figures.answered}"
             + (f" ({figures.answered_time_unknown} with unknown answer time, from the CDR)"
                if figures.answered_time_unknown else ""),
             f"  abandoned                    {figures.abandoned}",
             f"  abandon rate                 {_fmt(figures.abandon_rate, ' %')}",
             f"  information only (surge)     {figures.information_only}"]
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
    if texts is not None:
        lines += ["", *texts_table(texts)]
    return "\n".join([*lines, "", render_table(agencies)])
