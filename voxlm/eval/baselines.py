"""The three systems every benchmark item is answered by, all through the one `SpeechChat` path.

- `text`: the text LLM reads the gold transcript in place of each audio part: the ceiling.
- `cascade`: Whisper (the same size as VoxLM's encoder, its own decoder, via faster-whisper)
  transcribes each audio part, then the same LLM reads that transcript.
- `speech`: VoxLM hears the audio.
- `whisper` (ASR benchmark only): the cascade's transcript itself, no LLM.
- `connector` (ASR benchmark only): VoxLM's own greedy CTC transcript (`voxlm transcribe`), no LLM:
  what the model hears, whichever interface hands it to the LLM.

All three run the same model object with the same prompt and greedy decoding, so the only thing
that differs between them is how the spoken content reaches the LLM.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..audio.io import load_audio

SYSTEMS = ("text", "cascade", "speech")


@dataclass
class Item:
    """One benchmark question.

    `content` is the user turn as message parts: `{"type": "text", "text"}` and
    `{"type": "audio", "audio": <wav path>, "text": <gold transcript>}`; each system turns the
    audio parts into what it reads (see `Systems.conversation`). `meta` holds what scoring needs
    (instruction ids, task, reference text, ...).
    """

    id: str
    condition: str
    content: list[dict]
    max_new_tokens: int = 256
    meta: dict = field(default_factory=dict)

    def audio_parts(self) -> list[dict]:
        return [p for p in self.content if p["type"] == "audio"]

    def fingerprint(self, max_new_tokens: int) -> str:
        """Changes whenever the question (or the answer budget) changes: keys the response log."""
        blob = json.dumps([self.id, self.content, max_new_tokens], sort_keys=True, default=str)
        return hashlib.sha1(blob.encode()).hexdigest()[:16]


@dataclass
class ItemSet:
    """A benchmark's items, where they came from, and what was left out and why (`notes`)."""

    items: list[Item]
    source: str
    notes: dict = field(default_factory=dict)


class WhisperASR:
    """The cascade's ASR: a CTranslate2 Whisper via faster-whisper, greedy, on CPU.

    `model_dir` is the `ct2/` folder that `voxlm assets` writes next to each converted Whisper.
    """

    def __init__(self, model_dir: str | Path, device: str = "cpu", compute_type: str = "int8", cpu_threads: int = 2):
        model_dir = Path(model_dir)
        if not (model_dir / "model.bin").is_file():
            raise FileNotFoundError(f"{model_dir}: no CTranslate2 Whisper (model.bin) here; the cascade baseline "
                                    "reads the ct2/ folder of a converted Whisper asset: run `voxlm assets`")
        try:
            from faster_whisper import WhisperModel
        except ImportError:
            raise ImportError("the cascade baseline needs faster-whisper: run `pip install faster-whisper`") from None
        self.model_dir = model_dir
        self.model = WhisperModel(str(model_dir), device=device, compute_type=compute_type, cpu_threads=cpu_threads)

    @classmethod
    def for_encoder(cls, audio_model: str | None, **kwargs) -> "WhisperASR":
        """The Whisper of the same size as VoxLM's encoder (`model.config.audio_model`)."""
        from ..assets import resolve_model_path

        if audio_model is None:
            raise ValueError("the model has no named Whisper (config.audio_model is None), so the cascade "
                             "cannot pick an ASR of the same size; pass `transcribe=` explicitly")
        return cls(resolve_model_path(audio_model) / "ct2", **kwargs)

    def __call__(self, wave: np.ndarray) -> str:
        # temperature 0 only: faster-whisper's fallback would otherwise *sample* at higher
        # temperatures on hard clips, and the benchmark must be deterministic.
        segments, _ = self.model.transcribe(
            np.asarray(wave, np.float32), language="en", beam_size=1, temperature=0.0,
            condition_on_previous_text=False, without_timestamps=True, vad_filter=False,
        )
        return " ".join(s.text.strip() for s in segments).strip()


class Systems:
    """Answers an `Item` as each system; remembers how long each system took.

    `chat` is a `voxlm.serve.engine.SpeechChat`; `transcribe` maps a 16 kHz wave to text (the
    cascade's ASR; `WhisperASR` in real runs, a stub in tests). `max_new_tokens`, when given,
    caps every item's own answer budget.
    """

    def __init__(self, chat, transcribe: Callable[[np.ndarray], str], max_new_tokens: int | None = None):
        self.chat = chat
        self.transcribe = transcribe
        self.max_new_tokens = max_new_tokens
        self._transcripts: dict[str, tuple[str, float]] = {}

    @classmethod
    def load(cls, checkpoint: str | Path | None = None, max_new_tokens: int | None = None,
             config_overrides: dict | None = None) -> "Systems":
        """VoxLM from `checkpoint` (None: the default model; `config_overrides` e.g. another `interface`) and the
        Whisper of its encoder's size."""
        from ..serve.engine import SpeechChat

        chat = SpeechChat.load(checkpoint, config_overrides)
        return cls(chat, WhisperASR.for_encoder(chat.model.config.audio_model), max_new_tokens)

    def budget(self, item: Item) -> int:
        return min(item.max_new_tokens, self.max_new_tokens) if self.max_new_tokens else item.max_new_tokens

    @staticmethod
    @functools.lru_cache(maxsize=8)  # an item's clip is read once for its speech and cascade answers
    def _wave(path: str) -> np.ndarray:
        return load_audio(path)

    def transcript(self, part: dict) -> tuple[str, float]:
        """(ASR transcript of an audio part, seconds the ASR took), computed once per clip."""
        key = str(part["audio"])
        if key not in self._transcripts:
            start = time.perf_counter()
            text = self.transcribe(self._wave(key))
            self._transcripts[key] = (text, time.perf_counter() - start)
        return self._transcripts[key]

    def conversation(self, item: Item, system: str) -> list[dict]:
        """The user turn `system` reads: audio parts become gold text, ASR text, or stay audio."""
        content = []
        for part in item.content:
            if part["type"] != "audio":
                content.append({"type": "text", "text": part["text"]})
            elif system == "text":
                content.append({"type": "text", "text": part["text"]})
            elif system == "cascade":
                content.append({"type": "text", "text": self.transcript(part)[0]})
            elif system == "speech":
                content.append({"type": "audio", "audio": self._wave(str(part["audio"]))})
            else:
                raise ValueError(f"unknown system {system!r}; systems are {', '.join(SYSTEMS)} (and whisper, connector)")
        return [{"role": "user", "content": content}]

    def answer(self, item: Item, system: str) -> tuple[str, float]:
        """(`system`'s answer to `item`, seconds it took, the cascade's ASR time included)."""
        if system == "whisper":
            pieces = [self.transcript(p) for p in item.audio_parts()]
            return " ".join(t for t, _ in pieces), sum(s for _, s in pieces)
        if system == "connector":
            start = time.perf_counter()
            texts = self.chat.transcribe([self._wave(str(p["audio"])) for p in item.audio_parts()])
            return " ".join(texts), time.perf_counter() - start
        asr_seconds = sum(self.transcript(p)[1] for p in item.audio_parts()) if system == "cascade" else 0.0
        start = time.perf_counter()
        reply = self.chat.reply(self.conversation(item, system), max_new_tokens=self.budget(item))
        return reply.text.strip(), time.perf_counter() - start + asr_seconds
