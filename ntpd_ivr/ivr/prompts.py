"""Prompt audio, rendered reproducibly from the texts in `prompts/<language>/<name>.txt`.

espeak-ng speaks the text (its Indonesian voice for `id`), sox turns it into 8 kHz mono
16-bit WAV, which Asterisk plays with format_wav. A recorded file dropped in as
`prompts/<language>/<name>.wav` replaces the synthesized one. Renders are cached by the
hash of the text and voice settings, so re-running costs nothing.

A `prompts/<language>/<list>.list` holds one short prompt per line (`name` or
`name | how to say it`, `#` comments), rendered into `<language>/<list>/<slug>.wav`: the
kecamatan names a connect dispatch announces to the agency (ntpd_ivr/dispatch/announce.py).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
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


def prompt_slug(name: str) -> str:
    """A list entry's file name: "Ilir Barat I" -> "ilir-barat-i"."""
    return re.sub(r"[^a-z0-9]+", "-", name.casefold()).strip("-")


def list_entries(list_file: Path) -> list[tuple[str, str]]:
    """(name, spoken text) of each line of a `.list` file."""
    entries = []
    for line in list_file.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, spoken = (part.strip() for part in line.partition("|"))
        entries.append((name, spoken or name))
    return entries


def _render_cached(text: str, out_wav: Path, voice: str) -> None:
    key = hashlib.sha256(f"{voice}|{SPEED_WPM}|{text}".encode()).hexdigest()
    stamp = out_wav.with_suffix(".sha256")
    if out_wav.exists() and stamp.exists() and stamp.read_text() == key:
        return
    with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8") as text_file:
        text_file.write(text)
        text_file.flush()
        _render_one(Path(text_file.name), out_wav, voice)
    stamp.write_text(key)


def _render_lists(language_dir: Path, target: Path, voice: str) -> list[Path]:
    written = []
    for list_file in sorted(language_dir.glob("*.list")):
        folder = target / list_file.stem
        folder.mkdir(parents=True, exist_ok=True)
        for name, spoken in list_entries(list_file):
            out_wav = folder / f"{prompt_slug(name)}.wav"
            _render_cached(spoken, out_wav, voice)
            written.append(out_wav)
    return written
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
        written += _render_lists(language_dir, target, voice)
    # Music on hold plays every file of one folder: the Indonesian "stay on the line".
    hold = out_dir / "hold"
    hold.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(out_dir / "id" / "hold.wav", hold / "hold.wav")
    return written
