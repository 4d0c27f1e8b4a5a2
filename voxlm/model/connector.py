"""The trainable bridge from speech-encoder frames to LLM input embeddings."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def num_audio_tokens(encoder_frames: int | torch.Tensor, stack_factor: int) -> int | torch.Tensor:
    """LLM positions one clip occupies: its encoder frames, `stack_factor` per position, rounded up (an int, or
    a tensor of clips' frames elementwise)."""
    return -(-encoder_frames // stack_factor)


class StackingConnector(nn.Module):
    """Stack `k` consecutive encoder frames, then norm -> linear -> SwiGLU -> linear -> [`layers` x
    self-attention block] -> norm.

    `[batch, frames, encoder_dim]` -> `[batch, ceil(frames / k), llm_dim]`.

    The optional pre-norm transformer blocks (bidirectional, `heads` heads of `llm_dim / heads`) let each
    position see its neighbours before it is scored against the LLM's vocabulary: capacity for the
    alignment stage to spend. Whisper's frames already carry their positions, so the blocks add none.
    With `lengths` they never attend to a clip's padding, so a clip gets the same positions batched as alone.
    Each block's residual branches (attention output and feed-forward output projections) start at zero, so a
    block starts as the identity: a connector grown from a trained one (`connector_layers` raised over a
    checkpoint) hears exactly as it did at its first step, and a fresh one starts as the plain MLP.
    The output RMSNorm's gain starts at the RMS of the LLM's own token embeddings, so audio enters the
    LLM at the scale its layers expect from text rather than at unit scale.
    """

    def __init__(self, encoder_dim: int, llm_dim: int, stack_factor: int, hidden_size: int, output_scale: float = 1.0,
                 layers: int = 0, heads: int = 8):
        super().__init__()
        if layers and llm_dim % heads:
            raise ValueError(f"connector heads ({heads}) must divide the LLM width ({llm_dim})")
        self.stack_factor = stack_factor
        stacked = encoder_dim * stack_factor
        self.norm_in = nn.RMSNorm(stacked)
        self.up = nn.Linear(stacked, 2 * hidden_size)
        self.down = nn.Linear(hidden_size, llm_dim)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(llm_dim, heads, dim_feedforward=2 * llm_dim, dropout=0.0, activation="gelu",
                                       batch_first=True, norm_first=True)
            for _ in range(layers)
        )
        self.norm_out = nn.RMSNorm(llm_dim)
        with torch.no_grad():
            for block in self.blocks:
                for residual_out in (block.self_attn.out_proj, block.linear2):
                    residual_out.weight.zero_()
                    residual_out.bias.zero_()
            self.norm_out.weight.fill_(output_scale)

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """`lengths` `[batch]`: each clip's real encoder frames (default: all of them)."""
        batch, length, dim = frames.shape
        pad = -length % self.stack_factor
        frames = F.pad(frames, (0, 0, 0, pad))
        # B, T, C -> B, T/k, C*k
        stacked = frames.reshape(batch, (length + pad) // self.stack_factor, dim * self.stack_factor)
        value, gate = self.up(self.norm_in(stacked)).chunk(2, dim=-1)
        hidden = self.down(value * F.silu(gate))
        if len(self.blocks):
            padding = None
            if lengths is not None:
                counts = num_audio_tokens(lengths.to(hidden.device), self.stack_factor)
                padding = torch.arange(hidden.shape[1], device=hidden.device)[None, :] >= counts[:, None]
            for block in self.blocks:
                hidden = block(hidden, src_key_padding_mask=padding)
            if padding is not None:
                hidden = hidden.masked_fill(padding.unsqueeze(-1), 0.0)  # the same whichever kernel ran
        return self.norm_out(hidden)
