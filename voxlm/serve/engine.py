"""The one inference path: conversation (text + audio parts) -> streamed answer.

`voxlm chat`, `voxlm serve` and the benchmarks all go through `SpeechChat`, so a change to
prompting or decoding reaches every one of them.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

from transformers import TextIteratorStreamer

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


class SpeechChat:
    """Greedy (by default) answering of conversations whose user turns may contain audio."""

    def __init__(self, model: VoxLMModel, processor: VoxLMProcessor, max_new_tokens: int = 256):
        self.model = model.eval()
        self.processor = processor
        self.max_new_tokens = max_new_tokens

    @classmethod
    def load(cls, checkpoint: str | Path | None = None, config_overrides: dict | None = None, **kwargs) -> "SpeechChat":
        """From a checkpoint (None: the embedded default); `config_overrides` such as `{"interface": "projector"}`
        change how the same trained weights are used."""
        model, processor = load_voxlm(checkpoint, **(config_overrides or {}))
        return cls(model, processor, **kwargs)

    def prepare(self, conversation: list[dict]):
        """Messages -> model inputs; raises `AudioError`/`ValueError` with a user-facing message on bad input."""
        prompt, clips = self.processor.apply_chat_template(conversation)
        return self.processor(prompt, clips or None, sampling_rate=16_000)

    def stream(self, conversation: list[dict], reply: Reply | None = None, **generate_kwargs) -> Iterator[str]:
        """Yield the answer piece by piece as it is decoded; fill `reply` (if given) with counts and timings.

        Input errors surface here, before any token is produced.
        """
        start = time.perf_counter()
        inputs = self.prepare(conversation)
        streamer = TextIteratorStreamer(self.processor.tokenizer, skip_prompt=True, skip_special_tokens=True)
        settings = {"max_new_tokens": self.max_new_tokens, "do_sample": False, **generate_kwargs}
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
