"""The trainable bridge from speech-encoder frames to LLM input embeddings."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def num_audio_tokens(encoder_frames: int, stack_factor: int) -> int:
    """LLM positions one clip occupies: its encoder frames, `stack_factor` per position, rounded up."""
    return -(-encoder_frames // stack_factor)


class StackingConnector(nn.Module):
    """Stack `k` consecutive encoder frames, then norm -> linear -> SwiGLU -> linear -> norm.

    `[batch, frames, encoder_dim]` -> `[batch, ceil(frames / k), llm_dim]`.

    The output RMSNorm's gain starts at the RMS of the LLM's own token embeddings, so audio enters the
    LLM at the scale its layers expect from text rather than at unit scale.
    """

    def __init__(self, encoder_dim: int, llm_dim: int, stack_factor: int, hidden_size: int, output_scale: float = 1.0):
        super().__init__()
        self.stack_factor = stack_factor
        stacked = encoder_dim * stack_factor
        self.norm_in = nn.RMSNorm(stacked)
        self.up = nn.Linear(stacked, 2 * hidden_size)
        self.down = nn.Linear(hidden_size, llm_dim)
        self.norm_out = nn.RMSNorm(llm_dim)
        with torch.no_grad():
            self.norm_out.weight.fill_(output_scale)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        batch, length, dim = frames.shape
        pad = -length % self.stack_factor
        frames = F.pad(frames, (0, 0, 0, pad))
        # B, T, C -> B, T/k, C*k
        stacked = frames.reshape(batch, (length + pad) // self.stack_factor, dim * self.stack_factor)
        value, gate = self.up(self.norm_in(stacked)).chunk(2, dim=-1)
        return self.norm_out(self.down(value * F.silu(gate)))
