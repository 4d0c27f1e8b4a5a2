"""Batched decoding over one KV cache, rows joining and leaving between steps (continuous batching).

Every answer voxlm generates goes through `Decoder`: one prompt alone is a batch of one. On a CPU a
135M-0.5B LLM is bound by per-call overhead and by reading its weights, so a step for 16 rows costs
little more than a step for one. Rows join at any step (`add` prefills them and merges their cache
into the running one, left-padded) and leave when they finish or are cancelled, so a request never
waits for a batch to drain, as in vLLM's continuous batching.

Prompts arrive as embeddings `[positions, dim]`: VoxLM splices its audio in (and leaves out the
positions soft tokens drop), a text LLM looks its ids up. Each row is numbered from 0 whatever its
left padding, so a row's greedy answer is the one it gets alone, up to fp32 rounding of batched
matrix products.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import torch
import torch.nn.functional as F
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer


@dataclass(frozen=True)
class Sampling:
    """How one row chooses its tokens: greedy at `temperature` 0, else sampled (nucleus `top_p`), from its own
    generator when `seed` is set, so a seeded answer does not depend on its batch-mates. `repetition_penalty`
    (transformers' rule, over the tokens this row generated) divides positive scores of tokens already said
    and multiplies negative ones."""

    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    repetition_penalty: float = 1.0

    def __post_init__(self):
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, not {self.max_new_tokens}")
        if self.temperature < 0 or not 0 < self.top_p <= 1 or not self.repetition_penalty > 0:
            raise ValueError("temperature must be >= 0, top_p in (0, 1] and repetition_penalty > 0; got "
                             f"{self.temperature}, {self.top_p}, {self.repetition_penalty}")


@dataclass(eq=False)
class Row:
    """One prompt's answer as it is decoded. `finish_reason`: None while decoding, then 'stop' (an end-of-turn
    token, kept as the last of `tokens`), 'length' (its token limit) or 'cancelled'."""

    prompt_length: int
    limit: int  # new tokens at most: the sampling's, cut where the LLM's context ends
    sampling: Sampling
    tag: Any = None  # the caller's handle (a server job, an item index)
    tokens: list[int] = field(default_factory=list)
    finish_reason: str | None = None
    generator: torch.Generator | None = field(default=None, repr=False)

    @property
    def done(self) -> bool:
        return self.finish_reason is not None


class Decoder:
    """The running batch of one causal LM: `add` rows, `step` them a token at a time, `cancel` any.

    Finished rows leave the batch (and the cache) at once; `rows` lists the ones still decoding.
    """

    def __init__(self, language_model, eos_token_ids: Iterable[int], context: int | None = None):
        self.lm = language_model
        self.eos = frozenset(int(t) for t in eos_token_ids)
        if not self.eos:
            raise ValueError("the decoder needs at least one end-of-turn token id")
        self.context = context
        self.rows: list[Row] = []
        self._cache: DynamicCache | None = None
        self._mask: torch.Tensor | None = None  # [rows, cached positions]: 0 on each row's left padding
        self._next_position: torch.Tensor | None = None  # [rows]: the position id of each row's pending token
        self._pending: torch.Tensor | None = None  # [rows]: the last chosen token, not yet in the cache

    def __len__(self) -> int:
        return len(self.rows)

    @torch.no_grad()
    def add(self, prompts: Sequence[torch.Tensor], samplings: Sequence[Sampling], tags: Sequence[Any] | None = None
            ) -> list[Row]:
        """Prefill `prompts` (`[positions, dim]` each) together, choose each one's first token, and join them to
        the running batch. Returns their rows (a row whose first token ends it is already done)."""
        if not prompts:
            return []
        tags = list(tags) if tags is not None else [None] * len(prompts)
        if not len(prompts) == len(samplings) == len(tags):
            raise ValueError(f"{len(prompts)} prompts, {len(samplings)} samplings and {len(tags)} tags")
        lengths = [int(p.shape[0]) for p in prompts]
        if min(lengths) < 1:
            raise ValueError("a prompt needs at least one position")
        width = max(lengths)
        param = next(self.lm.parameters())
        embeds = torch.stack([F.pad(p, (0, 0, width - n, 0)) for p, n in zip(prompts, lengths)]).to(param.dtype)
        mask = torch.stack([torch.arange(width) >= width - n for n in lengths]).long()
        cache = DynamicCache(config=self.lm.config)
        out = self.lm(inputs_embeds=embeds, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0),
                      cache=cache, use_cache=True, logits_to_keep=1)
        rows = [Row(n, self._limit(n, s), s, tag, generator=self._generator(s)) for n, s, tag in zip(lengths, samplings, tags)]
        tokens = self._choose(out.logits[:, -1], rows)
        self._join(cache, mask, torch.tensor(lengths), tokens, rows)
        self._record(rows, tokens)
        return rows

    @torch.no_grad()
    def step(self) -> list[Row]:
        """Feed every running row its pending token and choose the next; returns the rows that got one (the ones
        this step finished included: they have left `rows`)."""
        if not self.rows:
            return []
        mask = torch.cat([self._mask, torch.ones_like(self._mask[:, :1])], dim=1)
        out = self.lm(input_ids=self._pending[:, None], attention_mask=mask, position_ids=self._next_position[:, None],
                      cache=self._cache, use_cache=True)
        rows = list(self.rows)
        tokens = self._choose(out.logits[:, -1], rows)
        self._mask, self._next_position, self._pending = mask, self._next_position + 1, tokens
        self._record(rows, tokens)
        return rows

    def cancel(self, row: Row) -> None:
        """Take `row` out of the batch (a departed client, a deadline); a finished row is left as it is."""
        if not row.done:
            row.finish_reason = "cancelled"
            self._retire()

    # ---- internals --------------------------------------------------------------------------

    def _limit(self, prompt_length: int, sampling: Sampling) -> int:
        if self.context is None:
            return sampling.max_new_tokens
        room = self.context - prompt_length
        if room < 1:
            raise ValueError(f"a {prompt_length}-position prompt leaves no room in a {self.context}-position context")
        return min(sampling.max_new_tokens, room)

    @staticmethod
    def _generator(sampling: Sampling) -> torch.Generator | None:
        if sampling.temperature == 0 or sampling.seed is None:
            return None
        return torch.Generator().manual_seed(sampling.seed)

    @staticmethod
    def _choose(logits: torch.Tensor, rows: Sequence[Row]) -> torch.Tensor:
        """`[rows, vocab]` -> `[rows]`: argmax for greedy rows, a draw for sampled ones."""
        logits = logits.float()
        for i, row in enumerate(rows):
            if row.sampling.repetition_penalty != 1 and row.tokens:
                said = torch.tensor(sorted(set(row.tokens)))
                scores = logits[i, said]
                penalty = row.sampling.repetition_penalty
                logits[i, said] = torch.where(scores > 0, scores / penalty, scores * penalty)
        tokens = logits.argmax(-1)
        for i, row in enumerate(rows):
            s = row.sampling
            if s.temperature == 0:
                continue
            probs = (logits[i] / s.temperature).softmax(-1)
            if s.top_p < 1:  # keep the most likely tokens whose probabilities first reach top_p
                sorted_probs, order = probs.sort(descending=True)
                outside = sorted_probs.cumsum(-1) - sorted_probs >= s.top_p
                probs = probs.scatter(0, order, sorted_probs.masked_fill(outside, 0))
            tokens[i] = torch.multinomial(probs, 1, generator=row.generator)[0]
        return tokens

    def _join(self, cache: DynamicCache, mask: torch.Tensor, lengths: torch.Tensor, tokens: torch.Tensor,
              rows: list[Row]) -> None:
        layers = cache.layers
        if not all(type(layer) is DynamicLayer for layer in layers):
            raise NotImplementedError("batched decoding needs a plain dynamic KV cache (no sliding-window layers)")
        if self._cache is None:
            self._cache, self._mask, self._next_position, self._pending = cache, mask, lengths, tokens
        else:
            width = max(self._mask.shape[1], mask.shape[1])

            def left_pad(t: torch.Tensor, dim_from_end: int) -> torch.Tensor:
                missing = width - t.shape[-dim_from_end]
                return F.pad(t, (0, 0) * (dim_from_end - 1) + (missing, 0)) if missing else t

            for old, new in zip(self._cache.layers, layers):
                old.keys = torch.cat([left_pad(old.keys, 2), left_pad(new.keys, 2)])
                old.values = torch.cat([left_pad(old.values, 2), left_pad(new.values, 2)])
            self._mask = torch.cat([left_pad(self._mask, 1), left_pad(mask, 1)])
            self._next_position = torch.cat([self._next_position, lengths])
            self._pending = torch.cat([self._pending, tokens])
        self.rows += rows

    def _record(self, rows: list[Row], tokens: torch.Tensor) -> None:
        for row, token in zip(rows, tokens.tolist()):
            row.tokens.append(token)
            if token in self.eos:
                row.finish_reason = "stop"
            elif len(row.tokens) >= row.limit:
                row.finish_reason = "length"
        self._retire()

    def _retire(self) -> None:
        """Drop finished rows from the batch, then the cache columns that are padding for every row left."""
        keep = [i for i, row in enumerate(self.rows) if not row.done]
        if len(keep) == len(self.rows):
            return
        self.rows = [self.rows[i] for i in keep]
        if not keep:
            self._cache = self._mask = self._next_position = self._pending = None
            return
        index = torch.tensor(keep)
        mask = self._mask[index]
        start = int(mask.any(0).long().argmax())  # the first column some row still reads
        for layer in self._cache.layers:
            layer.keys = layer.keys[index, :, start:]
            layer.values = layer.values[index, :, start:]
        self._mask, self._next_position, self._pending = mask[:, start:], self._next_position[index], self._pending[index]
