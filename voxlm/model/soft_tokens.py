"""Connector positions read as the LLM's own tokens: greedy CTC collapse and the soft-token mix.

The CTC-aligned connector scores each position against the LLM's input-embedding table, one row of
which (`alignment_blank`) plays the blank. Greedy CTC keeps the positions that are not blank and
are not a repeat of the position before them in the same clip; their best tokens are the
connector's own transcript (`voxlm transcribe`). The soft-token interface (LegoSLM,
arXiv 2505.11352) hands the LLM, at each kept position, the probability mix of the `top_k` likeliest
real token embeddings instead of the raw connector vector: near-text that a frozen LLM can read,
and still differentiable, so the LM stages keep training the connector through it.
"""

from __future__ import annotations

import torch


def _without_blank(logits: torch.Tensor, blank_id: int) -> torch.Tensor:
    """The logits with the blank's column at -inf: a kept position stands for a real token."""
    return logits.index_fill(-1, torch.tensor([blank_id], device=logits.device), float("-inf"))


def greedy_ctc(
    logits: torch.Tensor, blank_id: int, blank_threshold: float, new_clip: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Best non-blank token of each position, and which positions greedy CTC keeps.

    logits `[positions, vocab]` over the LLM's vocabulary, positions of all clips in order;
    new_clip `[positions]` True where a clip starts (a repeat never merges across clips).
    A position is blank when its blank probability exceeds `blank_threshold`; it is a repeat when
    the position before it, in the same clip, is not blank and has the same best token.
    Returns (tokens `[positions]`, keep `[positions]` bool).
    """
    with torch.no_grad():
        blank = logits.float().softmax(-1)[:, blank_id] > blank_threshold
        tokens = _without_blank(logits, blank_id).argmax(-1)
        labels = tokens.masked_fill(blank, -1)  # -1: the blank, unequal to every token
        previous = torch.cat([labels.new_full((1,), -1), labels[:-1]])
        repeat = (labels == previous) & ~new_clip
        return tokens, ~blank & ~repeat


def soft_token_mix(
    positions: torch.Tensor, table: torch.Tensor, logits: torch.Tensor, blank_id: int, top_k: int, scale: float = 1.0
) -> torch.Tensor:
    """`[positions, dim]` -> `[positions, dim]`: each position as the renormalised top-k mix of real token embeddings.

    The top k non-blank tokens are picked without gradient; their scores are recomputed from
    `positions` (times `scale`, as `logits` were) so the gradient of the mix reaches the connector
    through the k mixing weights.
    """
    with torch.no_grad():
        picked = _without_blank(logits, blank_id).topk(min(top_k, logits.shape[-1] - 1)).indices
    rows = table[picked].to(positions.dtype)  # P, k, D
    weights = (torch.einsum("pd,pkd->pk", positions, rows) * scale).softmax(-1)
    return torch.einsum("pk,pkd->pd", weights, rows)


def clip_starts(is_audio: torch.Tensor) -> torch.Tensor:
    """`[batch, seq]` audio-position mask -> `[audio positions]` True where a run of audio positions (a clip) starts,
    in the row-major order in which the positions are filled."""
    before = torch.nn.functional.pad(is_audio[:, :-1], (1, 0), value=False)
    return ~before[is_audio]
