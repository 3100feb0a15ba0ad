"""Call recordings as a plugin: the supervisor's list and playback, and retention."""

from __future__ import annotations

from ntpd_ivr.calls.repository import CallsRepository
from ntpd_ivr.core import Core, Key, Plugin
from ntpd_ivr.recordings import http
from ntpd_ivr.recordings.service import RecordingService

RECORDINGS = Key("recordings", RecordingService)


def load(core: Core) -> Plugin:
    recordings = RecordingService(core.settings.recordings, core.engine)
    core.services.provide(RECORDINGS, recordings)

    async def start() -> None:
        recordings.start()

    return Plugin("recordings", routes=http.routes(recordings,
                                                   CallsRepository(core.engine).recent),
                  start=start)
