"""The call-takers' desk's config: the routing config's `[workspace]` table, read through
the shared ConfigReader (ntpd_ivr/configfile.py) so its errors name the file and the key
like the rest of the routing config."""

from __future__ import annotations

from ntpd_ivr.configfile import ConfigReader


def parse_workspace(reader: ConfigReader) -> int:
    """`wrapup_limit_seconds`: how long a call-taker stays paused in wrap-up without a
    disposition (10-3600, 120 by default)."""
    limit: int = reader.get("wrapup_limit_seconds", int, 120)
    if not 10 <= limit <= 3600:
        raise reader.fail("wrapup_limit_seconds", "must be 10-3600")
    reader.finish()
    return limit
