"""(clip, transcript) pairs for aligning the connector (`objective: ctc` in a training recipe).

Pairs come from example files (each audio part with its `text`, each spoken span of an InSerter
sample) or straight from `voxlm synth` folders (every clip with the text it was synthesized from):

    pairs = read_transcribed_clips(["data/default/inserter/train.jsonl", "data/starter"])
    dataset = TranscriptDataset(pairs, tokenizer, frames=FeatureStore(...), blank_token_id=216)
    batch = TranscriptCollator(dataset.vocab)([dataset[0], dataset[1]])   # VoxLMModel(**batch).loss
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
import torch
from torch.utils.data import Dataset

from ..model.connector import num_audio_tokens
from ..model.processing_voxlm import WINDOW_FRAMES
from .collate import collate_audio
from .corpora.text import canonical_text
from .examples import Example, read_examples
from .features import AudioStore


def read_transcribed_clips(sources: Iterable[str | Path]) -> dict[str, str]:
    """clip id -> transcript from example files and synth folders; the first transcript of a clip wins."""
    pairs: dict[str, str] = {}
    for source in sources:
        if Path(source).is_dir():
            found = AudioStore(source).transcripts().items()
        else:
            found = []
            for example in read_examples(source):
                if isinstance(example, Example):
                    found += [(p["audio"], p["text"]) for p in example.audio_parts() if p.get("text")]
                else:
                    found += [(s.audio, s.text) for s in example.speech_segments if s.audio]
        for ref, text in found:
            pairs.setdefault(ref, text)
    return pairs


def drop_held_out(train: dict[str, str], held_out: dict[str, str]) -> tuple[dict[str, str], int]:
    """Train pairs minus every clip whose transcript (case and punctuation aside) is also held out."""
    spoken = {canonical_text(t) for t in held_out.values()}
    kept = {ref: text for ref, text in train.items() if canonical_text(text) not in spoken}
    return kept, len(train) - len(kept)


def transcript_token_ids(tokenizer, text: str, blank_token_id: int) -> list[int]:
    """A clip transcript's CTC targets: its LLM token ids, the alignment blank's removed."""
    # A leading space: mid-sentence spelling, as the words would appear inside a prompt.
    return [i for i in tokenizer(" " + text.strip(), add_special_tokens=False).input_ids if i != blank_token_id]


class TranscriptDataset(Dataset):
    """Items `audio_frames` ([one window]), `audio_lengths`, `ctc_labels` (LLM token ids, blank removed).

    Clips longer than one 30 s encoder window are left out (`skipped_long`): alignment needs no long
    clips, and one window per clip keeps positions and transcripts one to one. `vocab` holds every
    token of these transcripts (the CTC candidates, see `VoxLMModel.alignment_logits`).
    """

    def __init__(self, pairs: dict[str, str], tokenizer, frames, blank_token_id: int):
        self.frames = frames
        self.refs, self.labels, self.skipped_long = [], [], 0
        for ref, text in pairs.items():
            if frames.num_frames(ref) > WINDOW_FRAMES:
                self.skipped_long += 1
                continue
            ids = transcript_token_ids(tokenizer, text, blank_token_id)
            if ids:
                self.refs.append(ref)
                self.labels.append(ids)
        self.vocab = sorted({i for ids in self.labels for i in ids})

    def __len__(self) -> int:
        return len(self.refs)

    def __getitem__(self, index: int) -> dict:
        frames = torch.from_numpy(np.asarray(self.frames[self.refs[index]], dtype=np.float32))
        return {"audio_frames": [frames], "audio_lengths": torch.tensor([len(frames)]),
                "ctc_labels": torch.tensor(self.labels[index])}


def greedy_ctc_tokens(logits: torch.Tensor, audio_lengths: torch.Tensor, vocab: torch.Tensor, stack_factor: int) -> list[list[int]]:
    """Best path per clip (`alignment_logits`), repeats merged and blanks dropped, as LLM token ids."""
    decoded = []
    for row, frames in zip(logits.argmax(-1), audio_lengths.tolist()):
        best = torch.unique_consecutive(row[: num_audio_tokens(frames, stack_factor)])
        decoded.append(vocab[best[best > 0] - 1].tolist())
    return decoded


def edit_distance(a: list, b: list) -> int:
    """Levenshtein distance between two sequences."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


class TranscriptCollator:
    """Audio as `collate_audio` batches it, `ctc_labels` padded with -100, and `ctc_vocab`."""

    def __init__(self, vocab: Iterable[int]):
        self.vocab = torch.tensor(sorted(set(vocab)), dtype=torch.long)

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        labels = torch.nn.utils.rnn.pad_sequence([f["ctc_labels"] for f in features], batch_first=True, padding_value=-100)
        return {**collate_audio(features), "ctc_labels": labels, "ctc_vocab": self.vocab}
