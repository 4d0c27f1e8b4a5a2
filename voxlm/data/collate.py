"""Batch samples that carry any number of audio clips (zero included) for `VoxLMModel.forward`.

Text is right-padded; audio is not padded per sample but concatenated across the batch, because the
model fills audio positions in reading order: the k-th clip of the batch goes to the k-th run of
`<|audio|>` positions, row by row. So clips are stacked in sample order, and within a sample in
placeholder order, which is the order `build_inputs` returns them in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F

from .interleave import IGNORE_INDEX


def _as_long(values) -> torch.Tensor:
    return values.long() if isinstance(values, torch.Tensor) else torch.tensor(values, dtype=torch.long)


@dataclass
class VoxLMCollator:
    """`collator(features) -> batch` for a `DataLoader`; `features` are dicts from `build_inputs`.

    Each feature has `input_ids`, `labels` and optionally `attention_mask` (1-D, `[seq]`), and either
    no audio, or `input_features [windows, mel_bins, mel frames]` + `audio_lengths [windows]`, or
    `audio_frames` (a list of `[frames, encoder_dim]` tensors, or one `[clips, frames, encoder_dim]`
    tensor) + `audio_lengths [clips]`. A batch must not mix the two audio forms.

    The batch has `input_ids`, `attention_mask`, `labels` `[batch, longest]` (right padding; pad id,
    mask 0, label -100 on padding), and when any sample has audio: `input_features [all windows,
    mel_bins, longest]` or `audio_frames [all clips, longest clip, encoder_dim]` (zero-padded) with
    `audio_lengths [all clips]`. Samples with `ctc_labels` (a list of 1-D tensors, one per audio window) and
    `ctc_scored` (`[windows]` bool) give `ctc_labels [all windows, longest]` (-100 padding) and `ctc_scored [all windows]`.
    """

    pad_token_id: int
    pad_to_multiple_of: int | None = None

    def __call__(self, features: Sequence[dict]) -> dict[str, torch.Tensor]:
        if not features:
            raise ValueError("cannot collate an empty list of samples")
        batch = self._text(features, "")
        if "teacher_input_ids" in features[0]:
            # The text-only view of the same examples, for distillation (see train/trainer.py).
            batch.update(self._text(features, "teacher_"))
        batch.update(collate_audio(features))
        if "ctc_labels" in features[0]:
            # Per audio window, in the order collate_audio stacks the windows (sample order, then clip order).
            labels = [torch.as_tensor(t, dtype=torch.long) for f in features for t in f["ctc_labels"]]
            batch["ctc_labels"] = (torch.nn.utils.rnn.pad_sequence(labels, batch_first=True, padding_value=IGNORE_INDEX)
                                   if labels else torch.zeros(0, 0, dtype=torch.long))
            batch["ctc_scored"] = torch.cat([torch.as_tensor(f["ctc_scored"], dtype=torch.bool) for f in features])
        return batch

    def _text(self, features: Sequence[dict], prefix: str) -> dict[str, torch.Tensor]:
        ids = [_as_long(f[prefix + "input_ids"]) for f in features]
        labels = [_as_long(f[prefix + "labels"]) for f in features]
        for i, (a, b) in enumerate(zip(ids, labels)):
            if a.shape != b.shape or a.ndim != 1:
                raise ValueError(f"sample {i}: {prefix}input_ids {tuple(a.shape)} and labels {tuple(b.shape)} must be 1-D and equal")
        masks = [_as_long(f[prefix + "attention_mask"]) if prefix + "attention_mask" in f else torch.ones_like(a)
                 for f, a in zip(features, ids)]
        width = max(a.numel() for a in ids)
        if self.pad_to_multiple_of:
            width = -(-width // self.pad_to_multiple_of) * self.pad_to_multiple_of
        return {
            prefix + "input_ids": torch.stack([F.pad(a, (0, width - a.numel()), value=self.pad_token_id) for a in ids]),
            prefix + "attention_mask": torch.stack([F.pad(m, (0, width - m.numel()), value=0) for m in masks]),
            prefix + "labels": torch.stack([F.pad(b, (0, width - b.numel()), value=IGNORE_INDEX) for b in labels]),
        }


def collate_audio(features: Sequence[dict]) -> dict[str, torch.Tensor]:
    """The audio of samples, concatenated in sample order (see `VoxLMCollator`); `{}` when none has any."""
    with_features = [i for i, f in enumerate(features) if "input_features" in f]
    with_frames = [i for i, f in enumerate(features) if "audio_frames" in f]
    if with_features and with_frames:
        raise ValueError(
            f"samples {with_features} carry input_features and samples {with_frames} carry audio_frames: "
            "a batch must use one audio form"
        )
    lengths = []
    for i, f in enumerate(features):
        n = len(f.get("audio_lengths", ()))
        if n and "input_features" not in f and "audio_frames" not in f:
            raise ValueError(f"sample {i} has audio_lengths but no input_features or audio_frames (attach the cached frames)")
        if n:
            lengths.append(_as_long(f["audio_lengths"]))
    if not lengths:
        return {}
    out = {"audio_lengths": torch.cat(lengths)}
    if with_features:
        mels = [torch.as_tensor(features[i]["input_features"]) for i in with_features]
        longest = max(m.shape[-1] for m in mels)  # the encoder reads only each window's own columns
        out["input_features"] = torch.cat([F.pad(m, (0, longest - m.shape[-1])) for m in mels])
    else:
        clips = [torch.as_tensor(c) for i in with_frames for c in features[i]["audio_frames"]]
        longest = max(c.shape[0] for c in clips)
        out["audio_frames"] = torch.stack([F.pad(c, (0, 0, 0, longest - c.shape[0])) for c in clips])
    n_clips = out["input_features" if with_features else "audio_frames"].shape[0]
    if n_clips != out["audio_lengths"].numel():
        raise ValueError(f"{n_clips} audio rows but {out['audio_lengths'].numel()} audio_lengths in the batch")
    return out
