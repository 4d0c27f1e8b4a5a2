"""Text-to-speech: one `Voice` interface over five offline engines, and the voice registry.

    from voxlm.tts import speak, list_voices, TRAIN_VOICES, HELD_OUT_VOICES
    wave = speak("Turn left at the lights.", "kokoro:alpha+kumo")   # float32 [samples], 16 kHz

Engines (each lazy: the model loads on first synthesis; a missing package raises
`EngineUnavailable` naming what to install): piper (`piper:joe`), hibari (`hibari:heart`),
kokoro (`kokoro:<vector>`, `kokoro:<a>+<b>`), flite (`flite:slt`, ...), espeak
(`espeak:en-gb+m5`, ...). See `registry.py` for the fixed train / held-out split.
"""

from voxlm.tts.base import ChunkedVoice, EngineUnavailable, Voice
from voxlm.tts.registry import (
    ALL_VOICES,
    ENGINES,
    HELD_OUT_VOICES,
    TRAIN_VOICES,
    VoiceInfo,
    get_voice,
    list_voices,
    speak,
    voice_info,
    voice_split,
)
from voxlm.tts.text import check_speakable, chunk_text, split_sentences

__all__ = [
    "ALL_VOICES", "ENGINES", "HELD_OUT_VOICES", "TRAIN_VOICES", "ChunkedVoice", "EngineUnavailable", "Voice",
    "VoiceInfo", "check_speakable", "chunk_text", "get_voice", "list_voices", "speak", "split_sentences",
    "voice_info", "voice_split",
]
