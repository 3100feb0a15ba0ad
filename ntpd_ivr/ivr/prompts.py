"""Prompt audio, rendered reproducibly from the texts in `prompts/<language>/<name>.txt`.

espeak-ng speaks the text (its Indonesian voice for `id`), sox turns it into 8 kHz mono
16-bit WAV, which Asterisk plays with format_wav (ntpd_ivr/speech.py). A recorded file
dropped in as `prompts/<language>/<name>.wav` replaces the synthesized one. Renders are
cached by the hash of the text and voice settings, so re-running costs nothing.

A `prompts/<language>/<list>.list` holds one short prompt per line (`name` or
`name | how to say it`, `#` comments), rendered into `<language>/<list>/<slug>.wav`: the
kecamatan names a connect dispatch announces to the agency (ntpd_ivr/dispatch/announce.py).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from pathlib import Path

from ntpd_ivr.errors import StackError
from ntpd_ivr.speech import SPEED_WPM, VOICES, speak_file

PROMPTS_SOURCE = Path(__file__).resolve().parents[2] / "prompts"


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
        speak_file(Path(text_file.name), out_wav, voice)
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
                speak_file(text_file, out_wav, voice)
                stamp.write_text(key.hexdigest())
            written.append(out_wav)
        written += _render_lists(language_dir, target, voice)
    # Music on hold plays every file of one folder: the Indonesian "stay on the line".
    hold = out_dir / "hold"
    hold.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(out_dir / "id" / "hold.wav", hold / "hold.wav")
    return written
