"""Audio loading: every rate, layout and sample type becomes 16 kHz float32 mono; junk is a clear error."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from voxlm.audio.io import AudioError, AudioTooLong, load_audio, probe_seconds, to_mono_float


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


# ---- bounded decoding: a clip over the limit is refused before it costs memory --------------------


def long_silence(seconds: int, sr: int, channels: int) -> bytes:
    buffer = io.BytesIO()
    with sf.SoundFile(buffer, "w", samplerate=sr, channels=channels, format="FLAC", subtype="PCM_16") as f:
        for _ in range(seconds):
            f.write(np.zeros((sr, channels), dtype=np.int16))
    return buffer.getvalue()


def test_a_clip_over_the_limit_is_refused_from_its_header(monkeypatch):
    import voxlm.audio.io as audio_io

    def no_decoding(*args):
        raise AssertionError("decoded although the header says too long")

    monkeypatch.setattr(audio_io, "_read_sndfile", no_decoding)
    with pytest.raises(AudioTooLong, match="20.0 s long; the limit is 5 s") as raised:
        load_audio(long_silence(20, 96_000, 8), max_seconds=5)
    assert raised.value.seconds == pytest.approx(20.0)


def test_a_header_that_understates_the_length_is_caught_while_decoding(monkeypatch, tone):
    import voxlm.audio.io as audio_io

    monkeypatch.setattr(audio_io, "probe_seconds", lambda data: 0.5)  # a lying header
    with pytest.raises(AudioTooLong, match="longer than 1 s") as raised:
        load_audio(encoded(tone(3.0), 16_000), max_seconds=1)
    assert raised.value.seconds is None
    assert load_audio(encoded(tone(0.5), 16_000), max_seconds=1).size == 8000


def test_many_channels_are_mixed_block_by_block(tone):
    wave = tone(1.0, sr=48_000)
    channels = np.stack([wave * (c + 1) / 8 for c in range(8)], axis=1)
    mixed = load_audio(encoded(channels, 48_000, subtype="FLOAT"))
    expected = load_audio(channels.mean(axis=1), sampling_rate=48_000)
    assert np.allclose(mixed, expected, atol=1e-6)


def test_implausible_sampling_rates_are_refused_before_decoding():
    one_hertz = encoded(np.zeros(2000, dtype=np.int16), 1, subtype="PCM_16")
    with pytest.raises(AudioError, match="sampling rate 1 Hz"):
        load_audio(one_hertz)
    assert probe_seconds(encoded(np.zeros(1600, dtype=np.int16), 16_000)) == pytest.approx(0.1)
    assert probe_seconds(b"not audio") is None


def test_arrays_are_checked_against_the_limit_before_resampling():
    with pytest.raises(AudioTooLong, match="3.0 s long"):
        load_audio(np.zeros(24_000, np.float32), sampling_rate=8000, max_seconds=2)
    assert load_audio(np.zeros(8000, np.float32), sampling_rate=8000, max_seconds=2).size == 16_000


def test_a_folder_is_not_an_audio_file(tmp_path):
    with pytest.raises(AudioError, match="is a folder"):
        load_audio(tmp_path)
