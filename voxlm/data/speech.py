"""Text -> a dataset's clip: a TTS voice speaks it, then an `Augmentation` (with its seed) degrades it.

    wave = render_speech("Turn left at the lights.", "flite:slt", Augmentation(noise="pink", snr_db=10), seed=7)

The one path from text to audio for both the training speech (`voxlm synth` rows) and the
benchmarks' clips (`voxlm.eval.clips`), so a clip's recorded voice, spec and seed always rebuild
the same wave, whichever of the two made it.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..audio.augment import Augmentation, augment

Speak = Callable[[str, str], np.ndarray]  # (text, voice) -> 16 kHz float32 wave, as `voxlm.tts.speak`


class AugmentationFailed(ValueError):
    """The speech was made but the augmentation could not be applied (a missing impulse response or noise file)."""


def render_speech(text: str, voice: str, augmentation: Augmentation | None = None, seed: int = 0,
                  speak: Speak | None = None) -> np.ndarray:
    """`text` spoken by `voice`, then `augment(wave, augmentation, seed)` unless the spec changes nothing.

    `speak` defaults to `voxlm.tts.speak` (looked up at call time, so a stand-in patched there is
    used). The voice's own errors pass through (ValueError for text it cannot say, RuntimeError
    when the engine fails); an augmentation error is raised as `AugmentationFailed`, so callers can
    tell the two apart.
    """
    if speak is None:
        from ..tts import speak
    wave = speak(text, voice)
    if augmentation is not None and not augmentation.is_identity:
        try:
            wave = augment(wave, augmentation, seed)
        except ValueError as error:  # AudioError
            raise AugmentationFailed(str(error)) from error
    return wave
