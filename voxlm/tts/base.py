"""The one interface every TTS voice offers, and the text -> 16 kHz waveform path they share.

A voice is anything with a `name` and `synthesize(text) -> [samples]` float32 mono at 16 kHz
(`voxlm.audio.io.SAMPLING_RATE`), the rate the speech encoder reads. Engines subclass
`ChunkedVoice` and implement only `_render(text) -> (wave, sampling_rate)` for a piece of text
short enough for them; validation, long-text splitting, resampling and pauses live here once.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from typing import Protocol, runtime_checkable

import numpy as np

from voxlm.audio.io import SAMPLING_RATE, resample, to_mono_float
from voxlm.tts.text import check_speakable, chunk_text


@runtime_checkable
class Voice(Protocol):
    """A TTS voice: `synthesize(text)` -> float32 mono waveform `[samples]` at 16 kHz."""

    name: str

    def synthesize(self, text: str) -> np.ndarray: ...


class EngineUnavailable(RuntimeError):
    """A voice's engine (a pip or apt package) is not installed; the message says what to install."""


def _findable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # ValueError: blocked in sys.modules (set to None)
        return False


def missing_python_packages(modules: dict[str, str]) -> list[str]:
    """The pip requirements (values) whose import names (keys) cannot be found, without importing them."""
    return [req for module, req in modules.items() if not _findable(module)]


def require_python_packages(engine: str, modules: dict[str, str]) -> None:
    """Raise EngineUnavailable naming the exact `pip install` line if any module is missing."""
    missing = missing_python_packages(modules)
    if missing:
        raise EngineUnavailable(f"the {engine} voices need the pip package(s) {', '.join(missing)}: "
                                f"run `pip install {' '.join(missing)}`")


def require_program(engine: str, program: str, apt_package: str) -> str:
    """Path of `program`, or EngineUnavailable naming the Debian package that provides it."""
    path = shutil.which(program)
    if path is None:
        raise EngineUnavailable(f"the {engine} voices need the `{program}` program: "
                                f"run `apt-get install {apt_package}`")
    return path


def onnx_threads() -> int:
    """Intra-op threads for the ONNX engines: $VOXLM_TTS_THREADS, else up to 4 of the machine's cores.

    Data steps that run one synthesis process per core should set VOXLM_TTS_THREADS=1.
    """
    env = os.environ.get("VOXLM_TTS_THREADS")
    if env:
        return max(1, int(env))
    return max(1, min(4, os.cpu_count() or 1))


class ChunkedVoice:
    """Base for engine voices: text checks, long-text chunking, resampling to 16 kHz, pauses.

    Subclasses set `name`, optionally `max_chars` (the longest text piece their engine takes
    well), and implement `_render`.
    """

    name: str = ""
    max_chars: int = 400
    pause_s: float = 0.2  # silence between the pieces of a long text

    def _render(self, text: str) -> tuple[np.ndarray, int]:
        """Speak one piece of text (<= max_chars): (waveform `[samples]`, its sampling rate)."""
        raise NotImplementedError

    def synthesize(self, text: str) -> np.ndarray:
        """Text -> float32 mono `[samples]` at 16 kHz. ValueError for empty or unspeakable text."""
        text = check_speakable(text)
        pause = np.zeros(int(self.pause_s * SAMPLING_RATE), np.float32)
        parts: list[np.ndarray] = []
        for piece in chunk_text(text, self.max_chars):
            wave, sr = self._render(piece)
            wave = resample(to_mono_float(np.asarray(wave)), sr)
            if wave.size:
                parts.extend([wave, pause])
        if not parts:
            raise ValueError(f"{self.name}: produced no audio for {text[:60]!r} (nothing it can pronounce)")
        return np.clip(np.concatenate(parts[:-1]), -1.0, 1.0).astype(np.float32, copy=False)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"
