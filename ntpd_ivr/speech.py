"""Audio files Asterisk plays: a text spoken by espeak-ng (its Indonesian voice for `id`),
or a recording, made by sox into 8 kHz mono 16-bit WAV (format_wav). The IVR's prompts
(ivr/prompts.py) and a warning campaign's message (campaigns/audio.py) are both made here.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ntpd_ivr.errors import StackError

VOICES = {"id": "id", "en": "en"}
SPEED_WPM = "175"


def speak_file(text_file: Path, out_wav: Path, voice: str) -> None:
    """A text file spoken into `out_wav` (espeak-ng, then sox to the prompts' format)."""
    raw = out_wav.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-v", voice, "-s", SPEED_WPM, "-w", str(raw), "-f",
                    str(text_file)], check=True, capture_output=True, timeout=60)
    subprocess.run(["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(out_wav)],
                   check=True, capture_output=True, timeout=60)
    raw.unlink()


def render_text(text: str, out_wav: Path, language: str = "id") -> None:
    """One text spoken into `out_wav` with the prompts' own voice and format (a warning
    campaign's message). The text goes through a file, never the command line."""
    for tool in ("espeak-ng", "sox"):
        if not shutil.which(tool):
            raise StackError(f"{tool} is missing: apt-get install espeak-ng sox")
    out_wav.parent.mkdir(parents=True, exist_ok=True)
    text_file = out_wav.with_suffix(".txt")
    text_file.write_text(text, encoding="utf-8")
    try:
        speak_file(text_file, out_wav, VOICES.get(language, language))
    finally:
        text_file.unlink(missing_ok=True)


def convert_recording(source: Path, out_wav: Path) -> None:
    """An uploaded recording (any format sox reads) as 8 kHz mono 16-bit WAV."""
    if not shutil.which("sox"):
        raise StackError("sox is missing: apt-get install sox")
    out_wav.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["sox", str(source), "-r", "8000", "-c", "1", "-b", "16", str(out_wav)],
                   check=True, capture_output=True, timeout=120)
