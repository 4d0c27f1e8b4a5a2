"""Audio loading: every rate, layout and sample type becomes 16 kHz float32 mono; junk is a clear error."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from voxlm.audio.io import AudioError, load_audio, to_mono_float


def encoded(wave: np.ndarray, sr: int, fmt: str = "WAV", subtype: str | None = None) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, wave, sr, format=fmt, subtype=subtype)
    return buffer.getvalue()


def test_int16_stereo_8k_becomes_float_mono_16k(tone):
    left = tone(1.0, sr=8000)
    stereo = np.stack([left, left], axis=1)
    wave = load_audio(encoded(stereo, 8000, subtype="PCM_16"))
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert wave.size == 16_000
    assert np.abs(wave).max() <= 1.0


def test_48k_flac_is_resampled(tone):
    wave = load_audio(encoded(tone(0.5, sr=48_000), 48_000, fmt="FLAC"))
    assert wave.size == 8000


def test_unsigned_8bit_pcm_is_centred():
    assert to_mono_float(np.array([128, 255, 0], dtype=np.uint8)).tolist() == pytest.approx([0.0, 127 / 128, -1.0])


def test_channels_first_arrays_are_averaged():
    stereo = np.stack([np.ones(100), -np.ones(100)]).astype(np.float32)  # [2, samples]
    assert np.allclose(to_mono_float(stereo), 0.0) and to_mono_float(stereo).shape == (100,)


@pytest.mark.parametrize(
    "source, message",
    [(b"", "empty"), (b"RIFF not really a wave file", "not"), (np.zeros(0, np.float32), "0 s long")],
)
def test_bad_input_is_an_audio_error(source, message):
    with pytest.raises(AudioError, match=message):
        load_audio(source, sampling_rate=16_000)


def test_nan_samples_are_rejected():
    with pytest.raises(AudioError, match="NaN"):
        load_audio(np.array([0.0, np.nan], dtype=np.float32), sampling_rate=16_000)


def test_raw_arrays_need_a_rate():
    with pytest.raises(AudioError, match="sampling_rate"):
        load_audio(np.zeros(10, np.float32))
