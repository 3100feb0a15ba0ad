"""The parameters of /api/v1, each with the JSON Schema that both the OpenAPI document
states and the handlers enforce: one definition, so the document cannot promise less or
more than the code refuses. Parsing is typed: a whole number is digits only, a name
matches its pattern, before anything reaches the database."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ntpd_ivr.reports import model as reports

MAX_LIMIT = 500
DEFAULT_LIMIT = 100
MAX_ID = 2**62
MAX_UNIQUEID_CHARS = 64
# JSON Schema patterns are ECMA-262: [0-9] rather than \d (Python's \d takes any digit).
# A date, or a date and time, with an optional zone (UTC without one): the ISO 8601 forms
# datetime.fromisoformat reads that a client needs, in 1900-2099 (no call record is older,
# and the period's arithmetic stays far from datetime's year 1 and 9999).
_HOUR, _MINUTE = "([01][0-9]|2[0-3])", "[0-5][0-9]"
ISO_TIME = (r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
            rf"([T ]{_HOUR}:{_MINUTE}(:{_MINUTE}(\.[0-9]{{1,6}})?)?"
            rf"(Z|[+-]{_HOUR}:{_MINUTE})?)?$")
NAME = r"^[a-z][a-z0-9-]{0,39}$"  # a region's key (ntpd_ivr/routing/config.py)
AGENCY = r"^[a-z][a-z0-9-]{0,80}$"  # <region>-<agency>
UNIQUEID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"  # [<systemname>-]<epoch>.<n>


class BadParam(ValueError):
    """The parameter's value breaks its schema; the message names the parameter."""


@dataclass(frozen=True)
class Param:
    name: str
    description: str
    schema: dict[str, Any]
    where: str = "query"  # query | path
    hint: str = ""  # what a refusal says instead of the bare pattern

    def spec(self) -> dict[str, Any]:
        """The OpenAPI parameter object."""
        return {"name": self.name, "in": self.where, "required": self.where == "path",
                "description": self.description, "schema": self.schema}

    def parse(self, raw: str) -> Any:
        """The typed value of `raw`, or BadParam saying what the schema wants."""
        schema = self.schema
        if "enum" in schema:
            if raw not in schema["enum"]:
                raise BadParam(f"{self.name} must be one of {', '.join(schema['enum'])}")
            return raw
        if schema.get("type") == "integer":
            low, high = schema["minimum"], schema["maximum"]
            if not re.fullmatch(r"[0-9]{1,20}", raw) or not low <= int(raw) <= high:
                raise BadParam(f"{self.name} must be a whole number {low}-{high}, "
                               f"got {raw[:40]!r}")
            return int(raw)
        if len(raw) > schema["maxLength"] or not re.fullmatch(schema["pattern"], raw):
            wanted = self.hint or (f"must match {schema['pattern']} (at most "
                                   f"{schema['maxLength']} characters)")
            raise BadParam(f"{self.name}: {wanted}, got {raw[:40]!r}")
        return raw

    def get(self, values: Mapping[str, str], default: Any = None) -> Any:
        """The parsed value if present (an empty value is refused like any other)."""
        raw = values.get(self.name)
        return default if raw is None else self.parse(raw)


def _text(pattern: str, max_length: int) -> dict[str, Any]:
    return {"type": "string", "pattern": pattern, "maxLength": max_length}


_ISO_HINT = ("not an ISO 8601 date or date and time in 1900-2099 (e.g. 2026-11-28 or "
             "2026-11-28T07:00:00+07:00)")
FROM = Param("from", "ISO 8601 date or date-time, start (inclusive; UTC without a zone). "
             "Default: 7 days before `to`. With `to`, at most 400 days, and `to` after `from`.",
             _text(ISO_TIME, 32), hint=_ISO_HINT)
TO = Param("to", "ISO 8601 date or date-time, end (exclusive; UTC without a zone). "
           "Default: now.", _text(ISO_TIME, 32), hint=_ISO_HINT)
PERIOD = (FROM, TO)
LIMIT = Param("limit", f"At most this many, newest first (1-{MAX_LIMIT}, default "
              f"{DEFAULT_LIMIT}).", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT})
REGION = Param("region", "Only this region (its key in the routing config)", _text(NAME, 40))
OVERFLOW_REGION = Param(
    "overflow_region", "Only the calls another center's edge overflowed here for this region "
    "(its key in that center's routing config; docs/ha.md, \"A second site\")", _text(NAME, 40))
AGENCY_KEY = Param("agency", "Only this agency (<region>-<agency>)", _text(AGENCY, 81))
STATUS = Param("status", "open or closed", {"type": "string", "enum": ["open", "closed"]})
BY = Param("by", "Grouping (default day)", {"type": "string", "enum": list(reports.GROUPINGS)})
WITHIN = Param("within", f"The N of 'answered within N s' (1-{reports.MAX_WITHIN}, default "
               f"{reports.DEFAULT_WITHIN})",
               {"type": "integer", "minimum": 1, "maximum": reports.MAX_WITHIN})
CALL_ID = Param("uniqueid", "Asterisk's unique id ([<systemname>-]<epoch>.<n>)",
                _text(UNIQUEID, MAX_UNIQUEID_CHARS), "path")
INCIDENT_ID = Param("id", "Incident id", {"type": "integer", "minimum": 1, "maximum": MAX_ID},
                    "path")
