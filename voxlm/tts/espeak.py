"""eSpeak NG (Debian `espeak-ng` 1.51): formant synthesis, robotic but cheap and many accents.

A voice is a language/accent (en-us, en-gb, en-gb-scotland, ...) optionally with a `+variant`
(m1..m8, f1..f5, klatt, ...), which changes pitch, formants and voicing. Output is 22.05 kHz.
espeak-ng silently ignores an unknown variant, so only the names below are ever passed.
The MBROLA `mb-*` voices are left out: they need the separate mbrola program and databases.
"""

from __future__ import annotations

import io
import subprocess

import numpy as np
import soundfile as sf

from voxlm.tts.base import ChunkedVoice, require_program

ENGINE = "espeak"
APT_PACKAGE = "espeak-ng"
ACCENTS = {
    "en-us": "US English",
    "en-gb": "British English",
    "en-gb-x-rp": "British English, Received Pronunciation",
    "en-gb-x-gbclan": "British English, Lancaster",
    "en-gb-x-gbcwmd": "British English, West Midlands",
    "en-gb-scotland": "Scottish English",
    "en-029": "Caribbean English",
    "en-us-nyc": "US English, New York City",
}
VARIANTS = {
    "m1": "male 1", "m2": "male 2", "m3": "male 3", "m5": "male 5", "m7": "male 7",
    "f2": "female 2", "f3": "female 3", "f4": "female 4", "f5": "female 5", "klatt": "Klatt synthesiser",
}
# Which accent gets which variants: a fixed, hand-picked list (the cross product would be 80).
_VOICE_LIST = [
    "en-us", "en-us+m3", "en-us+f2", "en-us+f4", "en-us+klatt",
    "en-gb", "en-gb+m5", "en-gb+f3",
    "en-gb-x-rp", "en-gb-x-rp+f5", "en-gb-x-gbclan", "en-gb-x-gbclan+m2",
    "en-gb-x-gbcwmd", "en-gb-x-gbcwmd+m7",
    "en-gb-scotland", "en-gb-scotland+f2",
    "en-029", "en-029+m1",
    "en-us-nyc", "en-us-nyc+f4",
]


def _describe(voice: str) -> str:
    accent, _, variant = voice.partition("+")
    return ACCENTS[accent] + (f", {VARIANTS[variant]} variant" if variant else "")


VOICES = {v: _describe(v) for v in _VOICE_LIST}


def check_available() -> None:
    require_program(ENGINE, "espeak-ng", APT_PACKAGE)


class EspeakVoice(ChunkedVoice):
    """`espeak:<accent>[+<variant>]`."""

    max_chars = 2000

    def __init__(self, voice: str, words_per_minute: int = 165):
        if voice not in VOICES:
            raise ValueError(f"unknown espeak voice {voice!r}; available: {', '.join(VOICES)}")
        self.voice = voice
        self.words_per_minute = words_per_minute
        self.name = f"{ENGINE}:{voice}"

    def _render(self, text: str) -> tuple[np.ndarray, int]:
        program = require_program(ENGINE, "espeak-ng", APT_PACKAGE)
        # -b 1: the text on stdin is UTF-8; --stdout: a wav on stdout.
        proc = subprocess.run([program, "-v", self.voice, "-s", str(self.words_per_minute), "-b", "1", "--stdout"],
                              input=text.encode("utf-8"), capture_output=True)
        if proc.returncode != 0 or not proc.stdout:
            raise RuntimeError(f"{self.name}: espeak-ng failed ({proc.returncode}): {proc.stderr.decode()[:200]}")
        wave, sr = sf.read(io.BytesIO(proc.stdout), dtype="float32")
        return wave, sr
