"""The one inference path: conversations (text + audio parts) -> streamed answers, decoded in batches.

`voxlm chat`, `voxlm serve`, `voxlm eval` and the benchmarks all go through `SpeechChat`, so a change
to prompting or decoding reaches every one of them. One conversation is a batch of one: `stream`,
`replies` and the server's worker all drive the same `Batch` (over `decoding.Decoder`).
"""

from __future__ import annotations

import re
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import torch
from transformers import BatchFeature

from ..audio.io import SAMPLING_RATE
from ..model import VoxLMModel, VoxLMProcessor, load_voxlm
from .decoding import Decoder, Row, Sampling

# Answers decoded at once by `replies` (`voxlm eval`): of 1, 8 and 16 the fastest on 2 CPU cores (docs/batching).
DEFAULT_BATCH_SIZE = 16


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


# Logits rules of `generation_config.json` the batched decoder does not implement: a checkpoint setting one is warned.
_UNSUPPORTED_DECODING = ("no_repeat_ngram_size", "bad_words_ids", "suppress_tokens", "begin_suppress_tokens",
                         "min_new_tokens", "sequence_bias", "encoder_repetition_penalty", "forced_eos_token_id")

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
        generation = model.language_model.generation_config
        self.repetition_penalty = float(generation.repetition_penalty or 1.0)
        unused = {name: getattr(generation, name, None) for name in _UNSUPPORTED_DECODING}
        unused = {name: value for name, value in unused.items() if value not in (None, 0, 1.0, [], False)}
        if unused:
            warnings.warn(f"generation_config.json sets {unused}, which voxlm's decoder does not apply (it applies "
                          "repetition_penalty, temperature/top_p when sampling, and the end tokens)", stacklevel=2)

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
        waves = [self.processor.load(clip, SAMPLING_RATE) for clip in clips]
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
        inputs = (self.processor(self.processor.audio_token * len(waves), waves, sampling_rate=SAMPLING_RATE) if waves
                  else BatchFeature({}))
        inputs["input_ids"] = torch.tensor([ids])
        inputs["attention_mask"] = torch.ones_like(inputs["input_ids"])
        return inputs

    def embed(self, inputs: BatchFeature) -> torch.Tensor:
        """A prepared conversation as the LLM reads it: `[positions, dim]`, the audio spliced in and the positions
        soft tokens drop left out (so they cost the LLM nothing)."""
        with torch.no_grad():
            embeds, mask = self.model.embed_inputs(inputs["input_ids"], inputs.get("input_features"),
                                                   inputs.get("audio_frames"), inputs.get("audio_lengths"),
                                                   inputs.get("attention_mask"))
        return embeds[0, mask[0].bool()]

    def batch(self) -> "Batch":
        """An empty running batch: conversations join it at any step and leave it when answered."""
        return Batch(self)

    def stream(self, conversation: list[dict], reply: Reply | None = None, prepared: BatchFeature | None = None,
               **settings) -> Iterator[str]:
        """Yield the answer piece by piece as it is decoded; fill `reply` (if given) with counts and timings.

        Input errors surface here, before any token is produced, unless the caller passes the conversation
        already `prepared` (the server does, to refuse bad input before queueing it). `settings`:
        `max_new_tokens`, `do_sample`, `temperature`, `top_p`, `seed`.
        """
        start = time.perf_counter()
        batch = self.batch()
        events = batch.add([prepared if prepared is not None else self.prepare(conversation)], [settings], started=start)
        answer = events[0][0]
        while True:
            for _, piece in events:
                if piece:
                    yield piece
            if answer.done:
                break
            events = batch.step()
        if answer.error is not None:
            raise answer.error
        if reply is not None:
            reply.__dict__.update(answer.reply.__dict__)

    def replies(self, conversations: Iterable[list[dict]], batch_size: int = DEFAULT_BATCH_SIZE,
                max_new_tokens: int | Sequence[int] | None = None, **settings) -> Iterator[tuple[int, Reply]]:
        """Answer many conversations, `batch_size` decoding at once; yield `(index, Reply)` as each finishes.

        A finished answer's place goes to the next conversation at the next step, so one long answer never
        holds the others up. `max_new_tokens` may give each conversation its own budget. Greedy answers are
        the ones each conversation gets alone (`stream`), up to fp32 rounding in batched matrix products.
        A conversation that cannot be prepared raises when its turn comes (the answers before it were yielded).
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        todo = iter(enumerate(conversations))
        batch = self.batch()
        more = True
        while more or len(batch):
            joining = []
            while more and len(batch) + len(joining) < batch_size:
                item = next(todo, None)
                if item is None:
                    more = False
                else:
                    joining.append(item)
            events = []
            if joining:
                budgets = [max_new_tokens if max_new_tokens is None or isinstance(max_new_tokens, int)
                           else max_new_tokens[i] for i, _ in joining]
                events = batch.add([self.prepare(c) for _, c in joining],
                                   [{**settings, **({} if b is None else {"max_new_tokens": b})} for b in budgets],
                                   [i for i, _ in joining])
            for answer, _ in events + batch.step():
                if answer.done:
                    if answer.error is not None:
                        raise answer.error
                    yield answer.key, answer.reply

    def sampling(self, max_new_tokens: int | None = None, do_sample: bool = False, temperature: float | None = None,
                 top_p: float | None = None, seed: int | None = None, repetition_penalty: float | None = None) -> Sampling:
        """Generation settings (the `transformers` names) -> a decoder row's `Sampling`; greedy unless `do_sample`;
        `repetition_penalty` defaults to the checkpoint's `generation_config.json`."""
        return Sampling(max_new_tokens=self.max_new_tokens if max_new_tokens is None else max_new_tokens,
                        temperature=(1.0 if temperature is None else temperature) if do_sample else 0.0,
                        top_p=1.0 if top_p is None else top_p, seed=seed,
                        repetition_penalty=self.repetition_penalty if repetition_penalty is None else repetition_penalty)

    def transcribe(self, clips: Sequence) -> list[str]:
        """What the model hears: the connector's CTC transcript of each clip (path, bytes or 16 kHz array), with no
        Whisper decoder: the tokens the LLM reads when the clip is a user's message (with `lm_fusion_weight`, as
        the LLM's fused choice after the chat template's user prefix; without it, no LLM pass)."""
        turn = [{"role": "user", "content": [{"type": "audio", "audio": None}]}]
        prompt = self.processor.apply_chat_template(turn, add_generation_prompt=False)[0]
        inputs = self.processor([prompt] * len(clips), list(clips), sampling_rate=SAMPLING_RATE)
        ids = self.model.transcribe(**inputs)
        return [text.strip() for text in self.processor.batch_decode(ids)]

    def reply(self, conversation: list[dict], **generate_kwargs) -> Reply:
        """The whole answer at once."""
        reply = Reply(text="", prompt_tokens=0, completion_tokens=0)
        for _ in self.stream(conversation, reply=reply, **generate_kwargs):
            pass
        return reply


@dataclass(eq=False)
class Answer:
    """One conversation's answer as a `Batch` decodes it: `reply` fills as it goes; `error` when it could not
    start (its audio or prompt failed), which fails it alone."""

    key: Any
    started: float
    reply: Reply = field(default_factory=lambda: Reply(text="", prompt_tokens=0, completion_tokens=0))
    row: Row | None = None
    error: Exception | None = None

    @property
    def done(self) -> bool:
        return self.error is not None or (self.row is not None and self.row.done)


class Batch:
    """Conversations decoded together over one KV cache (`Decoder`), each streamed its own text.

    `add` and `step` return `(answer, new text)` for every answer that moved; an answer that is `done`
    has left the batch. Text comes out whole characters at a time: a token that ends inside a UTF-8
    character waits for the next.
    """

    def __init__(self, chat: SpeechChat):
        self.chat = chat
        generation = chat.model.language_model.generation_config.eos_token_id
        eos = {chat.processor.tokenizer.eos_token_id, *([generation] if isinstance(generation, int) else generation or [])}
        self.decoder = Decoder(chat.model.language_model, eos - {None}, chat.context)
        self._answers: dict[Row, Answer] = {}

    def __len__(self) -> int:
        return len(self.decoder)

    def add(self, prepared: Sequence[BatchFeature], settings: Sequence[dict], keys: Sequence[Any] | None = None,
            started: float | None = None) -> list[tuple[Answer, str]]:
        """Join prepared conversations (`SpeechChat.prepare`), each with its generation `settings`, and decode their
        first tokens; one whose audio fails is returned done with its `error`, the others go on. Timings count
        from `started` (default: now)."""
        keys = list(keys) if keys is not None else [None] * len(prepared)
        answers, prompts, samplings = [], [], []
        for inputs, setting, key in zip(prepared, settings, keys):
            answer = Answer(key, time.perf_counter() if started is None else started)
            answers.append(answer)
            try:
                sampling, prompt = self.chat.sampling(**setting), self.chat.embed(inputs)
            except Exception as error:  # this conversation alone fails
                answer.error = error
                continue
            samplings.append(sampling)
            prompts.append(prompt)
        starting = [a for a in answers if a.error is None]
        for answer, row in zip(starting, self.decoder.add(prompts, samplings, starting)):
            answer.row = row
            answer.reply.prompt_tokens = row.prompt_length
            self._answers[row] = answer
        return [(a, "" if a.error is not None else self._advance(a)) for a in answers]

    def step(self) -> list[tuple[Answer, str]]:
        return [(self._answers[row], self._advance(self._answers[row])) for row in self.decoder.step()]

    def cancel(self, answer: Answer) -> None:
        if answer.row is not None:
            self.decoder.cancel(answer.row)
            self._answers.pop(answer.row, None)

    @property
    def answers(self) -> list[Answer]:
        """The answers still decoding."""
        return [self._answers[row] for row in self.decoder.rows]

    def _advance(self, answer: Answer) -> str:
        """The text `answer` gained with its newest token; on its last, fill in the rest of its reply."""
        row, reply = answer.row, answer.reply
        full = self.chat.processor.tokenizer.decode(row.tokens, skip_special_tokens=True)
        piece = full[len(reply.text):] if full.startswith(reply.text) else ""
        if piece.endswith("\ufffd") and not row.done:
            piece = ""  # the token ended inside a character: its bytes come whole with the next one
        if piece:
            if reply.seconds_to_first_token is None:
                reply.seconds_to_first_token = time.perf_counter() - answer.started
            reply.text += piece
            reply.pieces.append(piece)
        reply.completion_tokens = len(row.tokens)
        if row.done:
            reply.seconds_total = time.perf_counter() - answer.started
            reply.finish_reason = row.finish_reason
            self._answers.pop(row, None)
        return piece


def audio_question(audio, prompt: str | None = None) -> list[dict]:
    """The conversation for 'answer this audio' (spoken instruction), optionally with a text prompt after it."""
    content = [{"type": "audio", "audio": audio}]
    if prompt:
        content.append({"type": "text", "text": prompt})
    return [{"role": "user", "content": content}]
