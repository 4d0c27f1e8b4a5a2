"""The three systems every benchmark item is answered by, all through the one `SpeechChat` path.

- `text`: the text LLM reads the gold transcript in place of each audio part: the ceiling.
- `cascade`: Whisper (the same size as VoxLM's encoder, its own decoder, via faster-whisper)
  transcribes each audio part, then the same LLM reads that transcript.
- `speech`: VoxLM hears the audio.
- `whisper` (ASR benchmark only): the cascade's transcript itself, no LLM.
- `connector` (ASR benchmark only): VoxLM's own CTC transcript (`voxlm transcribe`; with the checkpoint's
  `lm_fusion_weight`, the LLM's fused choice among each position's candidates, else no LLM pass):
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
from typing import Callable, Iterator, Sequence

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

    # faster-whisper's own defaults, named here (and passed by `__call__`) because `transcribe_batch`
    # re-implements the one decision they drive for a single window: a window the model calls silent
    # (P(no speech) > NO_SPEECH_THRESHOLD) whose greedy text is not confident (average log-prob at most
    # LOG_PROB_THRESHOLD) is dropped, giving "".
    NO_SPEECH_THRESHOLD = 0.6
    LOG_PROB_THRESHOLD = -1.0

    def __call__(self, wave: np.ndarray) -> str:
        # temperature 0 only: faster-whisper's fallback would otherwise *sample* at higher
        # temperatures on hard clips, and the benchmark must be deterministic.
        segments, _ = self.model.transcribe(
            np.asarray(wave, np.float32), language="en", beam_size=1, temperature=0.0,
            condition_on_previous_text=False, without_timestamps=True, vad_filter=False,
            no_speech_threshold=self.NO_SPEECH_THRESHOLD, log_prob_threshold=self.LOG_PROB_THRESHOLD,
            suppress_blank=True, suppress_tokens=[-1],
        )
        return " ".join(s.text.strip() for s in segments).strip()

    def transcribe_batch(self, waves: list[np.ndarray], batch_size: int = 4) -> list[str]:
        """`[self(wave) for wave in waves]`, but clips that fit one 30 s window share one CTranslate2 call.

        For such a clip faster-whisper's `transcribe` (with `__call__`'s options) makes exactly one
        greedy `generate` call on the clip's log-mel features padded to 30 s, so the same call on a
        batch of them gives the same tokens, hence the same text. Longer clips (several windows), clips
        under one hop (no window at all), and any clip whose batched tokens hold a timestamp (faster-whisper
        would then split it into segments and maybe seek into a second window) go through `self(wave)`.
        At most `batch_size` clips are decoded together. On a CPU this is barely faster, if at all: the
        encoder's padded 30 s window (~0.8 s of tiny.en per clip on one thread) costs the same per clip in a
        batch, and only the decoder's per-call overhead is shared; large batches lose to memory traffic.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        texts: list[str | None] = [None] * len(waves)
        windows: list[tuple[int, np.ndarray]] = []
        for i, wave in enumerate(waves):
            window = self._single_window(wave)
            if window is None:
                texts[i] = self(wave)
            else:
                windows.append((i, window))
        for start in range(0, len(windows), batch_size):
            chunk = windows[start:start + batch_size]
            for (i, _), text in zip(chunk, self._decode_windows([window for _, window in chunk])):
                texts[i] = self(waves[i]) if text is None else text
        return texts  # type: ignore[return-value]  # every slot is filled above

    def _single_window(self, wave: np.ndarray) -> np.ndarray | None:
        """The [n_mels, 3000] encoder input faster-whisper decodes for `wave`, or None unless that is its only window."""
        from faster_whisper.audio import pad_or_trim

        wave = np.asarray(wave, np.float32)
        extractor = self.model.feature_extractor
        # transcribe computes the log-mel of the whole clip (its normalisation depends on the clip's own
        # peak), has `frames - 1` content frames (= samples // hop), and slides 3000-frame windows over them.
        if wave.ndim != 1 or not extractor.hop_length <= wave.shape[0] <= (extractor.nb_max_frames + 1) * extractor.hop_length:
            return None
        features = extractor(wave)
        content_frames = features.shape[-1] - 1
        if not 0 < content_frames <= extractor.nb_max_frames:
            return None
        return pad_or_trim(features[:, :content_frames], extractor.nb_max_frames)

    @functools.cached_property
    def _decoding(self) -> tuple:
        """(tokenizer, prompt, suppress_tokens) exactly as faster-whisper's `transcribe` builds them for `__call__`."""
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens

        tokenizer = Tokenizer(self.model.hf_tokenizer, self.model.model.is_multilingual, task="transcribe", language="en")
        # No previous text (condition_on_previous_text=False), no prefix or hotwords: sot sequence + no-timestamps.
        prompt = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
        return tokenizer, prompt, get_suppressed_tokens(tokenizer, [-1])

    def _decode_windows(self, windows: list[np.ndarray]) -> list[str | None]:
        """One greedy generate call on a batch of windows; per window its text, or None where `self(wave)` must decide."""
        import ctranslate2

        tokenizer, prompt, suppress_tokens = self._decoding
        features = ctranslate2.StorageView.from_array(np.ascontiguousarray(np.stack(windows)))
        results = self.model.model.generate(
            features, [prompt] * len(windows), beam_size=1, patience=1, length_penalty=1, repetition_penalty=1,
            no_repeat_ngram_size=0, max_length=self.model.max_length, return_scores=True, return_no_speech_prob=True,
            suppress_blank=True, suppress_tokens=suppress_tokens,
            max_initial_timestamp_index=int(round(1.0 / self.model.time_precision)),  # transcribe's max_initial_timestamp=1.0
        )
        texts: list[str | None] = []
        for result in results:
            tokens = result.sequences_ids[0]
            if any(token >= tokenizer.timestamp_begin for token in tokens):
                texts.append(None)
                continue
            # transcribe's average log-prob (length_penalty 1), same float operations in the same order.
            avg_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)
            silent = result.no_speech_prob > self.NO_SPEECH_THRESHOLD and not avg_logprob > self.LOG_PROB_THRESHOLD
            texts.append("" if silent else tokenizer.decode(tokens).strip())
        return texts


class Systems:
    """Answers an `Item` as each system; remembers how long each system took.

    `chat` is a `voxlm.inference.SpeechChat`; `transcribe` maps a 16 kHz wave to text (the
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
        from ..inference import SpeechChat

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
            self.transcribe_parts([part])
        return self._transcripts[key]

    def transcribe_parts(self, parts: Sequence[dict], batch_size: int = 16) -> None:
        """Transcribe the clips of `parts` not yet transcribed, `batch_size` read at once and handed to the ASR
        together (`transcribe_batch` when it has one); each clip is charged an equal share of its batch's time."""
        keys = list(dict.fromkeys(str(p["audio"]) for p in parts if str(p["audio"]) not in self._transcripts))
        batched = getattr(self.transcribe, "transcribe_batch", None)
        for start in range(0, len(keys), batch_size):
            chunk = keys[start:start + batch_size]
            began = time.perf_counter()
            waves = [self._wave(k) for k in chunk]
            texts = batched(waves) if batched else [self.transcribe(w) for w in waves]
            each = (time.perf_counter() - began) / len(chunk)
            self._transcripts.update({k: (text, each) for k, text in zip(chunk, texts)})

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
        [(_, text, seconds)] = self.answers([item], system)
        return text, seconds

    def answers(self, items: Sequence[Item], system: str, batch_size: int = 1) -> Iterator[tuple[Item, str, float]]:
        """`(item, answer, seconds)` for each item as it is answered, `batch_size` at once (in the order they finish).

        An item's seconds are the wall time since the previous answer came out, so they add up to the run's
        time whatever the batching (the cascade's ASR share added)."""
        if system in ("whisper", "cascade"):
            self.transcribe_parts([p for item in items for p in item.audio_parts()], batch_size)
        if system == "whisper":
            for item in items:
                pieces = [self.transcript(p) for p in item.audio_parts()]
                yield item, " ".join(t for t, _ in pieces), sum(s for _, s in pieces)
            return
        if system == "connector":
            for start in range(0, len(items), batch_size):
                chunk, began = items[start:start + batch_size], time.perf_counter()
                parts = [[self._wave(str(p["audio"])) for p in item.audio_parts()] for item in chunk]
                texts = iter(self.chat.transcribe([wave for waves in parts for wave in waves]))
                each = (time.perf_counter() - began) / len(chunk)
                for item, waves in zip(chunk, parts):
                    yield item, " ".join(next(texts) for _ in waves), each
            return
        conversations = (self.conversation(item, system) for item in items)
        last = time.perf_counter()
        for index, reply in self.chat.replies(conversations, batch_size=batch_size,
                                              max_new_tokens=[self.budget(item) for item in items]):
            now = time.perf_counter()
            item = items[index]
            asr = sum(self.transcript(p)[1] for p in item.audio_parts()) if system == "cascade" else 0.0
            yield item, reply.text.strip(), now - last + asr
            last = now
