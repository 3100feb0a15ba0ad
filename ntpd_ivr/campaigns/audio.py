"""A campaign's message as a file Asterisk plays: the text spoken with the prompts' TTS
(ntpd_ivr/speech.py), or an uploaded recording converted to the prompts' format."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
from pathlib import Path

from ntpd_ivr.campaigns.exceptions import BadInput
from ntpd_ivr.settings import WarningsSettings
from ntpd_ivr.speech import convert_recording, render_text


async def message_file(settings: WarningsSettings, text: str, recording: str = "",
                       language: str = "id") -> str:
    """Render or convert the message into `media_dir`; return it as Asterisk names it
    (a path inside `asterisk_media_dir`, without extension). Same content, same file.
    The work (files, espeak-ng, sox) runs in a thread: the event loop never waits on it."""
    return await asyncio.to_thread(_make, settings, text, recording, language)


def _make(settings: WarningsSettings, text: str, recording: str, language: str) -> str:
    if not settings.media_dir:
        raise BadInput("warnings.media_dir is not set: nowhere to put the message")
    if recording:
        source = Path(recording)
        if not source.is_file():
            raise BadInput(f"recording {recording} not found")
        digest = hashlib.sha256(source.read_bytes()).hexdigest()[:20]
        name = f"recording-{digest}"
    else:
        digest = hashlib.sha256(f"{language}|{text}".encode()).hexdigest()[:20]
        name = f"message-{digest}"
    out = Path(settings.media_dir) / f"{name}.wav"
    if not out.exists():
        try:
            if recording:
                convert_recording(Path(recording), out)
            else:
                render_text(text, out, language)
        except subprocess.CalledProcessError as exc:
            raise BadInput(f"the message could not be made into audio: "
                           f"{exc.stderr.decode(errors='replace')[:200]}") from None
        out.chmod(0o644)
    return f"{settings.asterisk_media_dir.rstrip('/')}/{name}"
