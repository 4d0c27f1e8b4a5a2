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


# Rates outside this range are no recording anyone means to send; bounding them also bounds the work:
# a header claiming 1 Hz would be upsampled 16,000-fold.
MIN_SAMPLING_RATE, MAX_SAMPLING_RATE = 1_000, 192_000


class AudioError(ValueError):
    """Audio that cannot be read or used; the message is meant for the user as is."""


class AudioTooLong(AudioError):
    """A clip over `limit` seconds, refused before it was decoded; `seconds` is None when only "longer" is known."""

    def __init__(self, seconds: float | None, limit: float):
        self.seconds, self.limit = seconds, limit
        length = f"{seconds:.1f} s long" if seconds is not None else f"longer than {limit:g} s"
        super().__init__(f"audio is {length}; the limit is {limit:g} s per clip (split the file)")


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


def _check_rate(rate: int) -> None:
    if not MIN_SAMPLING_RATE <= rate <= MAX_SAMPLING_RATE:
        raise AudioError(f"sampling rate {rate} Hz is outside {MIN_SAMPLING_RATE}-{MAX_SAMPLING_RATE} Hz "
                         "(resample the file, e.g. to 16 kHz)")


def probe_seconds(data: bytes) -> float | None:
    """The clip's duration from its header alone (nothing is decoded); None when libsndfile cannot read it."""
    import soundfile as sf

    try:
        info = sf.info(io.BytesIO(data))
    except (sf.LibsndfileError, RuntimeError, TypeError):
        return None
    _check_rate(info.samplerate)
    return info.frames / info.samplerate


def _read_sndfile(data: bytes, max_seconds: float | None) -> tuple[np.ndarray, int]:
    """Decode block by block, mixing each block to mono at once, so memory grows with the mono length only
    (not with the channel count), and stop past `max_seconds` whatever the header claimed."""
    import soundfile as sf

    with sf.SoundFile(io.BytesIO(data)) as f:
        rate = f.samplerate
        _check_rate(rate)
        limit = None if max_seconds is None else int(max_seconds * rate)
        blocks, frames = [], 0
        for block in f.blocks(blocksize=2**16, dtype="float32", always_2d=True):
            blocks.append(block.mean(axis=1) if block.shape[1] > 1 else block[:, 0])
            frames += block.shape[0]
            if limit is not None and frames > limit:
                raise AudioTooLong(None, max_seconds)
    return (np.concatenate(blocks) if blocks else np.zeros(0, np.float32)), rate


def _decode_with_ffmpeg(data: bytes, name: str, max_seconds: float | None = None) -> tuple[np.ndarray, int]:
    """Fallback for containers libsndfile does not read (m4a, webm, g722...)."""
    if shutil.which("ffmpeg") is None:
        raise AudioError(f"{name}: not a format libsndfile reads, and ffmpeg is not installed to try harder")
    # With a limit, ffmpeg stops just past it: the output (and our memory) stays bounded however long the input is.
    until = [] if max_seconds is None else ["-t", f"{max_seconds + 1:g}"]
    proc = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", "pipe:0", *until, "-f", "f32le", "-ac", "1", "-ar", str(SAMPLING_RATE), "pipe:1"],
        input=data,
        capture_output=True,
    )
    if proc.returncode != 0 or not proc.stdout:
        raise AudioError(f"{name}: not a readable audio file (wav, flac, ogg, mp3, ...)")
    wave = np.frombuffer(proc.stdout, dtype=np.float32).copy()
    if max_seconds is not None and wave.size > max_seconds * SAMPLING_RATE:
        raise AudioTooLong(None, max_seconds)
    return wave, SAMPLING_RATE


def load_audio(source: AudioSource, sampling_rate: int | None = None, max_seconds: float | None = None) -> np.ndarray:
    """Read a file path, encoded bytes, or a raw array into 16 kHz float32 mono `[samples]`.

    A raw array needs `sampling_rate`; files and bytes carry their own. With `max_seconds`, a longer clip
    raises `AudioTooLong` before it is decoded (from the header) or resampled, so a small file that
    claims hours of audio costs nothing.
    """
    if isinstance(source, np.ndarray):
        if sampling_rate is None:
            raise AudioError("a raw audio array needs its sampling_rate")
        wave = to_mono_float(source)
        if max_seconds is not None and wave.size > max_seconds * sampling_rate:
            raise AudioTooLong(wave.size / sampling_rate, max_seconds)
        wave = resample(wave, sampling_rate)
    else:
        if isinstance(source, (bytes, bytearray)):
            name, data = "audio bytes", bytes(source)
        else:
            path = Path(source)
            name = str(path)
            if path.is_dir():
                raise AudioError(f"{name}: is a folder; give one audio file (wav, flac, ogg, mp3, ...)")
            if not path.is_file():
                raise AudioError(f"{name}: no such file")
            data = path.read_bytes()
        if not data:
            raise AudioError(f"{name}: file is empty")
        import soundfile as sf

        seconds = probe_seconds(data)
        if seconds is not None and max_seconds is not None and seconds > max_seconds:
            raise AudioTooLong(seconds, max_seconds)
        raw = None
        if seconds is not None:
            try:
                raw, sr = _read_sndfile(data, max_seconds)
            except (sf.LibsndfileError, RuntimeError):
                pass  # a readable header over damaged data: ffmpeg may still recover it, or say it is unreadable
        if raw is None:
            raw, sr = _decode_with_ffmpeg(data, name, max_seconds)
        wave = resample(to_mono_float(raw), sr)
    if wave.size == 0:
        raise AudioError("audio has no samples (0 s long)")
    return wave
