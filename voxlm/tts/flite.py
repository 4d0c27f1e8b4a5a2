"""Festival-lite (Debian `flite` 2.2): five built-in English voices, run as a subprocess.

kal16/awb/rms/slt render at 16 kHz, kal (diphone) at 8 kHz. flite silently falls back to its
default voice for an unknown name, so only the names below are ever passed.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from voxlm.tts.base import ChunkedVoice, require_program

ENGINE = "flite"
APT_PACKAGE = "flite"
VOICES = {
    "kal16": "US English, male (diphone, 16 kHz)",
    "kal": "US English, male (diphone, 8 kHz: telephone-like)",
    "awb": "Scottish English, male (clustergen)",
    "rms": "US English, male (clustergen)",
    "slt": "US English, female (clustergen)",
}


def check_available() -> None:
    require_program(ENGINE, "flite", APT_PACKAGE)


class FliteVoice(ChunkedVoice):
    """`flite:<voice>`."""

    def __init__(self, voice: str):
        if voice not in VOICES:
            raise ValueError(f"unknown flite voice {voice!r}; available: {', '.join(VOICES)}")
        self.voice = voice
        self.name = f"{ENGINE}:{voice}"

    def _render(self, text: str) -> tuple[np.ndarray, int]:
        program = require_program(ENGINE, "flite", APT_PACKAGE)
        # Text goes through a file: on the command line a leading "-" would read as an option.
        with tempfile.TemporaryDirectory(prefix="voxlm-flite-") as tmp:
            text_path, wav_path = Path(tmp) / "in.txt", Path(tmp) / "out.wav"
            text_path.write_text(text, encoding="utf-8")
            proc = subprocess.run([program, "-voice", self.voice, "-f", str(text_path), "-o", str(wav_path)],
                                  capture_output=True, text=True)
            if proc.returncode != 0 or not wav_path.is_file():
                raise RuntimeError(f"{self.name}: flite failed ({proc.returncode}): {proc.stderr.strip()[:200]}")
            wave, sr = sf.read(wav_path, dtype="float32")
        return wave, sr
