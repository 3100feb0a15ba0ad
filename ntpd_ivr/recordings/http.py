"""Recordings over HTTP, for supervisors only. Routes:

    GET /recordings                 the latest calls with a recording, each with a player
    GET /recordings/{uniqueid}.wav  the file, streamed (HTTP ranges, so the player can
                                    seek); every request, whatever its Range, is covered
                                    by an audit entry (action recording.played) written
                                    before a byte is sent

The files live outside the web root; only an Asterisk uniqueid is ever looked up
(recordings/model.py), so no request can name another file.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ntpd_ivr.recordings.service import RecordingService
from ntpd_ivr.web.app import problem, protect
from ntpd_ivr.web.auth import Session
from ntpd_ivr.web.templates import SESSION_KEY, add_template_package, render

log = logging.getLogger(__name__)

RECORDINGS: web.AppKey[RecordingService] = web.AppKey("recordings", RecordingService)
RECENT: web.AppKey[Callable[[int], Awaitable[list[dict[str, Any]]]]] = web.AppKey(
    "recordings_recent")
LIST_LIMIT = 100


async def play(request: web.Request) -> web.StreamResponse:
    service = request.app[RECORDINGS]
    session: Session = request[SESSION_KEY]
    uniqueid = request.match_info["uniqueid"]
    path = service.path_of(uniqueid)
    if path is None:
        return problem(404, "not-found", f"no recording of call {uniqueid}")
    # Every request, a Range one too: a download in pieces (or from byte 1) is a
    # playback all the same. The same user's requests for the same call within
    # PLAYBACK_SECONDS share one entry (a player seeking), so every byte sent is covered.
    wanted = request.headers.get("Range", "")
    try:
        await service.audit_playback(session.user, uniqueid, {"range": wanted[:100]})
    except Exception:
        log.exception("recording of %s not played: the audit could not be written",
                      uniqueid, extra={"call_id": uniqueid})
        return problem(503, "audit-unavailable",
                       "playback is audited, and the audit trail cannot be written now")
    log.info("recording played by %s (range %r)", session.user, wanted[:100],
             extra={"call_id": uniqueid})
    return web.FileResponse(path, headers={"Content-Type": "audio/wav",
                                           "Cache-Control": "no-store"})


async def page(request: web.Request) -> web.Response:
    service = request.app[RECORDINGS]
    calls = await request.app[RECENT](LIST_LIMIT)
    recorded = await service.recorded([str(c["uniqueid"]) for c in calls])
    return render(request, "recordings.html",
                  calls=[c for c in calls if c["uniqueid"] in recorded])


def routes(service: RecordingService,
           recent_calls: Callable[[int], Awaitable[list[dict[str, Any]]]]
           ) -> Callable[[web.Application], None]:
    async def stop(_: web.Application) -> None:
        await service.stop()

    def add_routes(app: web.Application) -> None:
        app[RECORDINGS] = service
        app[RECENT] = recent_calls
        add_template_package(app, "ntpd_ivr.recordings")
        protect(app, "recordings", "supervisor", page=True)
        protect(app, "recording-play", "supervisor")
        app.on_cleanup.append(stop)
        app.router.add_get("/recordings", page, name="recordings")
        app.router.add_get(r"/recordings/{uniqueid:[0-9]{1,20}\.[0-9]{1,10}}.wav", play,
                           name="recording-play")

    return add_routes
