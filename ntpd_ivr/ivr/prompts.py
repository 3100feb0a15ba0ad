"""Prompt audio, rendered reproducibly from the texts in `prompts/<language>/<name>.txt`.

espeak-ng speaks the text (its Indonesian voice for `id`), sox turns it into 8 kHz mono
16-bit WAV, which Asterisk plays with format_wav. A recorded file dropped in as
`prompts/<language>/<name>.wav` replaces the synthesized one. Renders are cached by the
hash of the text and voice settings, so re-running costs nothing.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from ntpd_ivr.errors import StackError

PROMPTS_SOURCE = Path(__file__).resolve().parents[2] / "prompts"
VOICES = {"id": "id", "en": "en"}
SPEED_WPM = "175"


def _render_one(text_file: Path, out_wav: Path, voice: str) -> None:
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
        _render_one(text_file, out_wav, VOICES.get(language, language))
    finally:
        text_file.unlink(missing_ok=True)


def convert_recording(source: Path, out_wav: Path) -> None:
    """An uploaded recording (any format sox reads) as 8 kHz mono 16-bit WAV."""
    if not shutil.which("sox"):
        raise StackError("sox is missing: apt-get install sox")
    out_wav.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["sox", str(source), "-r", "8000", "-c", "1", "-b", "16", str(out_wav)],
                   check=True, capture_output=True, timeout=120)


def render_prompts(out_dir: Path, source: Path = PROMPTS_SOURCE) -> list[Path]:
    """Render every prompt into `out_dir/<language>/<name>.wav` (and `hold/` for MOH)."""
    for tool in ("espeak-ng", "sox"):
        if not shutil.which(tool):
            raise StackError(f"{tool} is missing: apt-get install espeak-ng sox")
    written = []
    for language_dir in sorted(p for p in source.iterdir() if p.is_dir()):
        language = language_dir.name
        voice = VOICES.get(language, language)
        target = out_dir / language
        target.mkdir(parents=True, exist_ok=True)
        for text_file in sorted(language_dir.glob("*.txt")):
            out_wav = target / f"{text_file.stem}.wav"
            recorded = text_file.with_suffix(".wav")
            if recorded.exists():
                shutil.copyfile(recorded, out_wav)
                written.append(out_wav)
                continue
            key = hashlib.sha256(f"{voice}|{SPEED_WPM}|{text_file.read_text()}".encode())
            stamp = out_wav.with_suffix(".sha256")
            if not (out_wav.exists() and stamp.exists()
                    and stamp.read_text() == key.hexdigest()):
                _render_one(text_file, out_wav, voice)
                stamp.write_text(key.hexdigest())
            written.append(out_wav)
    # Music on hold plays every file of one folder: the Indonesian "stay on the line".
    hold = out_dir / "hold"
    hold.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(out_dir / "id" / "hold.wav", hold / "hold.wav")
    return written
