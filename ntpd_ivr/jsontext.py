"""The controller's JSON text for screens, pushes and the command line: values that JSON
lacks (datetimes, Decimals, dates) become their str(). The /api/ keeps its own stated
formats (ntpd_ivr/api/http.py)."""

from __future__ import annotations

import json


def dumps(value: object) -> str:
    return json.dumps(value, default=str)
