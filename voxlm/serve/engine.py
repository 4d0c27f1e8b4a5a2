"""The one inference path: conversation (text + audio parts) -> streamed answer.

`voxlm chat`, `voxlm serve` and the benchmarks all go through `SpeechChat`, so a change to
prompting or decoding reaches every one of them.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import torch
from transformers import BatchFeature, TextIteratorStreamer

from ..model import VoxLMModel, VoxLMProcessor, load_voxlm


@dataclass
class Reply:
    """A finished answer with the counts an OpenAI-style `usage` block needs, and its timings."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    seconds_to_first_token: float | None = None
    seconds_total: float = 0.0
    finish_reason: str = "stop"
    pieces: list[str] = field(default_factory=list, repr=False)


class PromptTooLong(ValueError):
    """A prompt over `SpeechChat.max_prompt_tokens`, refused before its audio features or any generation."""

    def __init__(self, tokens: int | None, limit: int):
        self.tokens, self.limit = tokens, limit  # tokens: None when the text alone is surely too long
        size = f"{tokens} tokens" if tokens is not None else f"over {limit} tokens"
        super().__init__(f"the prompt is {size} (audio positions included); the limit is {limit} "
                         "(send shorter text or audio, or fewer turns)")


# Stands for text part N while the chat template is rendered: a template never writes NUL bytes.
_TEXT_MARK = re.compile(r"\x00(\d+)\x00")


class SpeechChat:
    """Greedy (by default) answering of conversations whose user turns may contain audio.

    `max_prompt_tokens` (None: the LLM's context less one, for the answer) bounds the prompt, audio
    positions included; the answer is cut where the context ends.
    """

    def __init__(self, model: VoxLMModel, processor: VoxLMProcessor, max_new_tokens: int = 256,
                 max_prompt_tokens: int | None = None):
        self.model = model.eval()
        self.processor = processor
        self.max_new_tokens = max_new_tokens
        self.context = getattr(model.language_model.config, "max_position_embeddings", None)
        limits = [n for n in (max_prompt_tokens, self.context and self.context - 1) if n]
        self.max_prompt_tokens = min(limits) if limits else None
        # No token spans more characters than the longest vocabulary entry: a text longer than the limit times
        # that is too long for sure, and is refused without seconds spent tokenizing megabytes.
        self._chars_per_token = max(map(len, processor.tokenizer.get_vocab()))

    @classmethod
    def load(cls, checkpoint: str | Path | None = None, config_overrides: dict | None = None, **kwargs) -> "SpeechChat":
        """From a checkpoint (None: the embedded default); `config_overrides` such as `{"interface": "projector"}`
        change how the same trained weights are used."""
        model, processor = load_voxlm(checkpoint, **(config_overrides or {}))
        return cls(model, processor, **kwargs)

    def prepare(self, conversation: list[dict]) -> BatchFeature:
        """Messages -> model inputs; raises `AudioError`/`ValueError` (`PromptTooLong`) with a user-facing message.

        Only the chat template makes special tokens: each text part is tokenized on its own with
        `split_special_tokens`, so a `<|im_end|>` a user typed stays text and cannot end its turn or forge
        a system or assistant one. (Byte-level BPE splits at those seams anyway: ordinary text gets the
        same ids as tokenizing the whole prompt.)
        """
        texts: list[str] = []

        def mark(part: dict) -> dict:
            if part["type"] != "text":
                return part
            texts.append(part["text"])
            return {"type": "text", "text": f"\x00{len(texts) - 1}\x00"}

        marked = [{**m, "content": [mark({"type": "text", "text": m["content"]})] if isinstance(m["content"], str)
                   else [mark(part) for part in m["content"]]} for m in conversation]
        if self.max_prompt_tokens and sum(map(len, texts)) > self.max_prompt_tokens * self._chars_per_token:
            raise PromptTooLong(None, self.max_prompt_tokens)
        prompt, clips = self.processor.apply_chat_template(marked)
        waves = [self.processor.load(clip, 16_000) for clip in clips]
        counts = iter([self.processor.audio_token_count(w) for w in waves])
        ids: list[int] = []
        for i, piece in enumerate(_TEXT_MARK.split(prompt)):
            if i % 2:  # a text part
                ids += self.processor.tokenizer(texts[int(piece)], add_special_tokens=False,
                                                split_special_tokens=True).input_ids
            elif piece:  # the template's own text: role markers and audio placeholders
                placeholders = [next(counts) for _ in range(piece.count(self.processor.audio_token))]
                ids += self.processor.encode_text([piece], placeholders, padding=False, return_tensors=None)["input_ids"][0]
        if self.max_prompt_tokens and len(ids) > self.max_prompt_tokens:
            raise PromptTooLong(len(ids), self.max_prompt_tokens)  # before the audio features are computed
        inputs = (self.processor(self.processor.audio_token * len(waves), waves, sampling_rate=16_000) if waves
                  else BatchFeature({}))
        inputs["input_ids"] = torch.tensor([ids])
        inputs["attention_mask"] = torch.ones_like(inputs["input_ids"])
        return inputs

    def stream(self, conversation: list[dict], reply: Reply | None = None, prepared: BatchFeature | None = None,
               **generate_kwargs) -> Iterator[str]:
        """Yield the answer piece by piece as it is decoded; fill `reply` (if given) with counts and timings.

        Input errors surface here, before any token is produced, unless the caller passes the conversation
        already `prepared` (the server does, to refuse bad input before queueing it).
        """
        start = time.perf_counter()
        inputs = prepared if prepared is not None else self.prepare(conversation)
        streamer = TextIteratorStreamer(self.processor.tokenizer, skip_prompt=True, skip_special_tokens=True)
        settings = {"max_new_tokens": self.max_new_tokens, "do_sample": False, **generate_kwargs}
        if self.context:  # the answer ends where the LLM's context does
            settings["max_new_tokens"] = min(settings["max_new_tokens"], self.context - inputs["input_ids"].shape[1])
        outcome: dict = {}

        def run() -> None:
            try:
                outcome["ids"] = self.model.generate(**inputs, streamer=streamer, **settings)
            except BaseException as error:  # re-raised in the caller's thread below
                outcome["error"] = error
                streamer.end()

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        first = None
        pieces = []
        for piece in streamer:
            if not piece:
                continue
            if first is None:
                first = time.perf_counter() - start
            pieces.append(piece)
            yield piece
        worker.join()
        if "error" in outcome:
            raise outcome["error"]
        if reply is not None:
            ids = outcome["ids"][0]
            eos = self.processor.tokenizer.eos_token_id
            reply.text = "".join(pieces)
            reply.pieces = pieces
            reply.prompt_tokens = int(inputs["input_ids"].shape[1])
            reply.completion_tokens = int(ids.numel())
            reply.seconds_to_first_token = first
            reply.seconds_total = time.perf_counter() - start
            reply.finish_reason = "stop" if eos in ids.tolist() or ids.numel() < settings["max_new_tokens"] else "length"

    def transcribe(self, clips: Sequence) -> list[str]:
        """What the model hears: the connector's greedy CTC transcript of each clip (path, bytes or 16 kHz
        array), with no Whisper decoder and no LLM pass."""
        inputs = self.processor([self.processor.audio_token] * len(clips), list(clips), sampling_rate=16_000)
        ids = self.model.transcribe(**inputs)
        return [text.strip() for text in self.processor.batch_decode(ids)]

    def reply(self, conversation: list[dict], **generate_kwargs) -> Reply:
        """The whole answer at once."""
        reply = Reply(text="", prompt_tokens=0, completion_tokens=0)
        for _ in self.stream(conversation, reply=reply, **generate_kwargs):
            pass
        return reply


def audio_question(audio, prompt: str | None = None) -> list[dict]:
    """The conversation for 'answer this audio' (spoken instruction), optionally with a text prompt after it."""
    content = [{"type": "audio", "audio": audio}]
    if prompt:
        content.append({"type": "text", "text": prompt})
    return [{"role": "user", "content": content}]
