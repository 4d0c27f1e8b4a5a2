"""Load any audio a user hands us into the one format the model reads: 16 kHz float32 mono.

Every failure becomes an `AudioError` with a one-line message naming the file and the fix, so the
CLI and the server can show it instead of a traceback from inside libsndfile or torch.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path
from typing import Union

import numpy as np

SAMPLING_RATE = 16_000

AudioSource = Union[str, os.PathLike, bytes, np.ndarray]


class AudioError(ValueError):
    """Audio that cannot be read or used; the message is meant for the user as is."""


def to_mono_float(wave: np.ndarray) -> np.ndarray:
    """Any PCM array `[samples]` or `[samples, channels]` (float or int) -> float32 mono in [-1, 1]."""
    wave = np.asarray(wave)
    if wave.dtype.kind in "iu":
        full_scale = 2.0 ** (8 * wave.dtype.itemsize - 1)
        # Unsigned PCM (8-bit wav) is centred on the middle of its range, not on zero.
        offset = full_scale if wave.dtype.kind == "u" else 0.0
        wave = (wave.astype(np.float64) - offset) / full_scale
    elif wave.dtype.kind != "f":
        raise AudioError(f"audio samples must be numbers, got dtype {wave.dtype}")
    wave = wave.astype(np.float32, copy=False)
    if wave.ndim == 2:
        # Channels-last is what soundfile returns; a [channels, samples] array has few rows.
        wave = wave.mean(axis=0 if wave.shape[0] < wave.shape[1] and wave.shape[0] <= 8 else 1)
    elif wave.ndim != 1:
        raise AudioError(f"audio must be 1-D (mono) or 2-D (multi-channel), got shape {wave.shape}")
    if not np.isfinite(wave).all():
        raise AudioError("audio contains NaN or infinite samples")
    return wave


def resample(wave: np.ndarray, orig_sr: int, target_sr: int = SAMPLING_RATE) -> np.ndarray:
    """Band-limited resampling (soxr, high quality); a no-op when the rates already match."""
    if orig_sr <= 0:
        raise AudioError(f"invalid sampling rate {orig_sr}")
    if orig_sr == target_sr or wave.size == 0:
        return wave.astype(np.float32, copy=False)
    import soxr

    return soxr.resample(wave, orig_sr, target_sr, quality="HQ").astype(np.float32, copy=False)


def _decode_with_ffmpeg(data: bytes, name: str) -> tuple[np.ndarray, int]:
    """Fallback for containers libsndfile does not read (m4a, webm, g722...)."""
    if shutil.which("ffmpeg") is None:
        raise AudioError(f"{name}: not a format libsndfile reads, and ffmpeg is not installed to try harder")
    proc = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", "pipe:0", "-f", "f32le", "-ac", "1", "-ar", str(SAMPLING_RATE), "pipe:1"],
        input=data,
        capture_output=True,
    )
    if proc.returncode != 0 or not proc.stdout:
        raise AudioError(f"{name}: not a readable audio file (wav, flac, ogg, mp3, ...)")
    return np.frombuffer(proc.stdout, dtype=np.float32).copy(), SAMPLING_RATE


def load_audio(source: AudioSource, sampling_rate: int | None = None) -> np.ndarray:
    """Read a file path, encoded bytes, or a raw array into 16 kHz float32 mono `[samples]`.

    A raw array needs `sampling_rate`; files and bytes carry their own.
    """
    if isinstance(source, np.ndarray):
        if sampling_rate is None:
            raise AudioError("a raw audio array needs its sampling_rate")
        wave = resample(to_mono_float(source), sampling_rate)
    else:
        if isinstance(source, (bytes, bytearray)):
            name, data = "audio bytes", bytes(source)
        else:
            path = Path(source)
            name = str(path)
            if not path.is_file():
                raise AudioError(f"{name}: no such file")
            data = path.read_bytes()
        if not data:
            raise AudioError(f"{name}: file is empty")
        import soundfile as sf

        try:
            raw, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=False)
        except (sf.LibsndfileError, RuntimeError, TypeError):
            raw, sr = _decode_with_ffmpeg(data, name)
        wave = resample(to_mono_float(raw), sr)
    if wave.size == 0:
        raise AudioError("audio has no samples (0 s long)")
    return wave
