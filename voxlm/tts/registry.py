"""Every voice by name (`engine:voice`), and the fixed train / held-out split.

    >>> from voxlm.tts import get_voice, list_voices, voice_split
    >>> wave = get_voice("piper:joe").synthesize("Hello there.")   # float32 [samples] at 16 kHz
    >>> voice_split("flite:awb")
    'held_out'

The split is part of the benchmark definition, so it is fixed here and never sampled:
held-out voices must not be used to synthesize training data; evaluation (the `accent`
condition, ASR on held-out synthetic voices) uses them to measure generalisation to unseen
speakers. Each side has neural and non-neural voices:

- held out (10): one Kokoro mixture (`kokoro:nezumi+kumo`: a timbre never heard in training,
  though both parents are), one flite voice (`flite:awb`, Scottish), and four espeak accents
  found nowhere in training (Scottish, Caribbean, New York City, West Midlands), each plain and
  with one `+variant` (8 voices).
- train (32): everything else: piper:joe, hibari:heart, the 5 Kokoro vectors + 9 mixtures,
  4 flite voices, 12 espeak voices (US, British, RP, Lancaster, with variants).

Adding a voice = adding it to its engine module's VOICES; it lands in TRAIN unless listed in
`_HELD_OUT` below.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from voxlm.tts import espeak, flite, hibari, kokoro, piper
from voxlm.tts.base import EngineUnavailable, Voice

# Engine name -> module with ENGINE, VOICES, check_available() and a voice class.
ENGINES: dict[str, tuple[ModuleType, type]] = {
    piper.ENGINE: (piper, piper.PiperTTSVoice),
    hibari.ENGINE: (hibari, hibari.HibariVoice),
    kokoro.ENGINE: (kokoro, kokoro.KokoroVoice),
    flite.ENGINE: (flite, flite.FliteVoice),
    espeak.ENGINE: (espeak, espeak.EspeakVoice),
}


@dataclass(frozen=True)
class VoiceInfo:
    """What the registry knows about a voice without loading it."""

    name: str  # "engine:voice"
    engine: str
    voice: str  # the engine's own name for it
    description: str
    split: str  # "train" or "held_out"

    def unavailable_reason(self) -> str | None:
        """None if the engine is installed, else the message saying what to install."""
        try:
            ENGINES[self.engine][0].check_available()
        except EngineUnavailable as e:
            return str(e)
        return None


ALL_VOICES: tuple[str, ...] = tuple(f"{engine}:{v}" for engine, (module, _) in ENGINES.items() for v in module.VOICES)

_HELD_OUT = {
    "kokoro:nezumi+kumo",
    "flite:awb",
    "espeak:en-gb-x-gbcwmd", "espeak:en-gb-x-gbcwmd+m7",
    "espeak:en-gb-scotland", "espeak:en-gb-scotland+f2",
    "espeak:en-029", "espeak:en-029+m1",
    "espeak:en-us-nyc", "espeak:en-us-nyc+f4",
}
if not _HELD_OUT <= set(ALL_VOICES):
    raise RuntimeError(f"held-out voices missing from the registry: {sorted(_HELD_OUT - set(ALL_VOICES))}")
# Both in registry order.
HELD_OUT_VOICES: tuple[str, ...] = tuple(v for v in ALL_VOICES if v in _HELD_OUT)
TRAIN_VOICES: tuple[str, ...] = tuple(v for v in ALL_VOICES if v not in _HELD_OUT)


def _unknown(name: str) -> ValueError:
    close = difflib.get_close_matches(name, ALL_VOICES, n=5, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    return ValueError(f"unknown voice {name!r}; {hint}names are 'engine:voice' with engine one of "
                      f"{', '.join(ENGINES)}; list all {len(ALL_VOICES)} with `voxlm voices` or "
                      f"voxlm.tts.list_voices()")


def voice_info(name: str) -> VoiceInfo:
    """Registry entry of `name`; ValueError (with close matches) if there is none."""
    if name not in ALL_VOICES:
        raise _unknown(name)
    engine, voice = name.split(":", 1)
    return VoiceInfo(name, engine, voice, ENGINES[engine][0].VOICES[voice], voice_split(name))


def voice_split(name: str) -> str:
    """"train" or "held_out" for a registered voice; ValueError for an unknown one."""
    if name not in ALL_VOICES:
        raise _unknown(name)
    return "held_out" if name in HELD_OUT_VOICES else "train"


def list_voices(engine: str | None = None, split: str | None = None) -> list[str]:
    """Voice names in registry order, optionally only one engine's and/or one split's."""
    if engine is not None and engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; engines: {', '.join(ENGINES)}")
    if split not in (None, "train", "held_out"):
        raise ValueError(f"split must be 'train' or 'held_out', got {split!r}")
    return [v for v in ALL_VOICES
            if (engine is None or v.split(":", 1)[0] == engine) and (split is None or voice_split(v) == split)]


def get_voice(name: str) -> Voice:
    """The voice called `name` (cheap: the engine loads its model on the first synthesis)."""
    info = voice_info(name)
    return ENGINES[info.engine][1](info.voice)


def speak(text: str, voice_name: str) -> np.ndarray:
    """Text -> float32 mono `[samples]` at 16 kHz in the named voice."""
    return get_voice(voice_name).synthesize(text)
