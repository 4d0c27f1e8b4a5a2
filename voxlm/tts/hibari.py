"""hibari (a 7.9 MB Kokoro-distilled ONNX model) with ONLY its bundled voice, "heart" (US female).

`hibari-tts` 0.2.1 ships `hibari/assets/hibari.onnx` (voice "heart", `bundled: true` in
`assets/voices.json`) plus its G2P lexicons. Its other voices (emma, fenrir, fable, kore) are
downloaded from a model hub on first use, which is not allowed here: we only ever open the bundled
file, with downloads disabled. The G2P is reused by the Kokoro engine (same phoneme alphabet).
"""

from __future__ import annotations

import functools

import numpy as np

from voxlm.tts.base import ChunkedVoice, onnx_threads, require_python_packages

ENGINE = "hibari"
REQUIREMENTS = {"hibari": "hibari-tts==0.2.1"}
VOICES = {"heart": "US English, female (Kokoro af_heart-like, bundled in hibari-tts)"}


def check_available() -> None:
    require_python_packages(ENGINE, REQUIREMENTS)


@functools.lru_cache(maxsize=None)
def _load(voice: str):
    check_available()
    from hibari import Hibari
    from hibari.voices import VOICES as HIBARI_VOICES
    from hibari.voices import voice_path

    if not HIBARI_VOICES.get(voice, {}).get("bundled"):
        raise ValueError(f"hibari voice {voice!r} is not bundled in the package (it would be downloaded); not used")
    model = voice_path(voice, download_missing=False)
    return Hibari(voice=voice, model=model, threads=onnx_threads())


class HibariVoice(ChunkedVoice):
    """`hibari:heart`. Deterministic: the vocoder's noise is seeded with `seed`."""

    def __init__(self, voice: str = "heart", seed: int = 0):
        if voice not in VOICES:
            raise ValueError(f"unknown hibari voice {voice!r}; only the bundled {', '.join(VOICES)} is used")
        self.voice = voice
        self.seed = seed
        self.name = f"{ENGINE}:{voice}"

    def _render(self, text: str) -> tuple[np.ndarray, int]:
        tts = _load(self.voice)
        # hibari concatenates its sentences without a gap; add a short one as piper's wrapper does.
        gap = np.zeros(int(0.1 * tts.sample_rate), np.float32)
        waves = [x for w in tts.stream(text, seed=self.seed) for x in (w, gap)][:-1]
        return (np.concatenate(waves) if waves else np.zeros(0, np.float32)), tts.sample_rate
