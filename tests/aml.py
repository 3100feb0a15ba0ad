"""An AML SMS as a caller's phone sends it during an emergency call: the fix taken now,
from its own handset (a random IMEI: every test is another phone, so that no earlier
test's call is taken for this phone's)."""

from __future__ import annotations

import random
from datetime import UTC, datetime


def phone_imei() -> str:
    return "35" + "".join(random.choices("0123456789", k=13))


def aml_sms(lat: str, lon: str, radius: int, *, imei: str | None = None,
            taken_at: datetime | None = None) -> str:
    top = (taken_at or datetime.now(UTC)).strftime("%Y%m%d%H%M%S")
    return (f'A"ML=1;lt={lat};lg={lon};rd={radius};top={top};lc=68;pm=G;'
            f"si=510100000000000;ei={imei or phone_imei()};mcc=510;mnc=10;ml=125")
