"""What a training run reads: a recipe's `train_data`, `eval_data` and `speech_data` -> datasets.

    check_no_held_out_voices(speech_data)
    train_set, eval_set = build_datasets(train_data, eval_data, speech_data, processor, "whisper-tiny.en")
    train_set, eval_set, collate = build_alignment_data(train_data, eval_data, speech_data, tokenizer, blank_id, ...)
    hearing_set = build_hearing_set(hearing_data, tokenizer, blank_id, "whisper-tiny.en")

Example files name clips by id; `speech_stores` and `audio_lookups` decide where an id is found: the cached encoder
frames of the speech folders (`FeatureStore`), their synthesized waves (`AudioStore`), or audio
files next to the JSONL when no speech folder is given. Several folders are searched in order.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from .examples import ExampleDataset, read_examples
from .features import AudioStore, FeatureStore
from .interleave import InterleavedSample
from .shards import MANIFEST
from .transcripts import TranscriptCollator, TranscriptDataset, drop_held_out, read_transcribed_clips


class ClipStores:
    """Several clip stores searched in order, as one: `stores[ref]` from the first that holds `ref`."""

    def __init__(self, stores: list):
        self.stores = stores

    def __contains__(self, ref: object) -> bool:
        return any(ref in store for store in self.stores)

    def _holder(self, ref: str):
        # The last store when none holds `ref`: its own KeyError names the command that makes the clip.
        return next((store for store in self.stores if ref in store), self.stores[-1])

    def __getitem__(self, ref: str):
        return self._holder(ref)[ref]

    def num_frames(self, ref: str) -> int:
        return self._holder(ref).num_frames(ref)


def speech_stores(speech_data: Sequence[str], cached_features: bool, audio_model: str, skip_top: int = 0) -> ClipStores:
    """The synth folders of `speech_data`, searched in order: their cached frames (below the encoder's top
    `skip_top` layers, the model's `encoder_trainable_layers`) or, without cached features, their waves."""
    if cached_features:
        return ClipStores([FeatureStore(d, audio_model, skip_top) for d in speech_data])
    return ClipStores([AudioStore(d) for d in speech_data])


def audio_lookups(stores: ClipStores | None, cached_features: bool, data_file: Path) -> dict:
    """How example audio refs resolve: `{"frames": ...}` (cached frames) or `{"wave": ref -> wave or path}`:
    from the `speech_stores` of a run's speech folders, or files next to `data_file` when there are none."""
    if stores is None:
        return {"wave": lambda ref: str((data_file.parent / ref).resolve())}
    return {"frames": stores} if cached_features else {"wave": lambda ref: stores[ref][0]}


def build_alignment_data(train_data: Sequence[str], eval_data: Sequence[str], speech_data: Sequence[str], tokenizer,
                         blank_token_id: int, audio_model: str, skip_top: int = 0
                         ) -> tuple[TranscriptDataset, TranscriptDataset | None, TranscriptCollator]:
    """(clip, transcript) pairs over cached frames for `objective: ctc`; clips whose words are also held out never train."""
    frames = speech_stores(speech_data, True, audio_model, skip_top)
    train_pairs = read_transcribed_clips(train_data)
    eval_pairs = read_transcribed_clips(eval_data)
    train_pairs, dropped = drop_held_out(train_pairs, eval_pairs)
    if dropped:
        print(f"alignment: left out {dropped} training clips whose transcripts are also in eval_data")
    train_set, eval_set = (TranscriptDataset(pairs, tokenizer, frames, blank_token_id)
                           for pairs in (train_pairs, eval_pairs))
    collate = TranscriptCollator(train_set.vocab + eval_set.vocab)
    return train_set, eval_set if eval_pairs else None, collate


def build_hearing_set(folders: Sequence[str], tokenizer, blank_token_id: int, audio_model: str,
                      skip_top: int = 0) -> TranscriptDataset:
    """Every clip of `folders` (synth or recordings folders with cached frames) with its transcript's tokens:
    the speech a run's `hearing_data` measures the connector on (held-out voices allowed: never trained on)."""
    frames = speech_stores(folders, True, audio_model, skip_top)
    return TranscriptDataset(read_transcribed_clips(folders), tokenizer, frames, blank_token_id)


def build_datasets(train_data: Sequence[str], eval_data: Sequence[str], speech_data: Sequence[str], processor,
                   audio_model: str, cached_features: bool = True, max_target_tokens: int | None = None,
                   teacher: bool = False, skip_top: int = 0, ctc_blank_id: int | None = None
                   ) -> tuple[ExampleDataset, ExampleDataset | None]:
    """The train and eval `ExampleDataset`s (no eval set without `eval_data`); `teacher` adds the text view for KL,
    `ctc_blank_id` each clip's transcript as CTC targets (`ctc_weight`)."""
    stores = speech_stores(speech_data, cached_features, audio_model, skip_top) if speech_data else None

    def dataset(paths: Sequence[str]) -> ExampleDataset:
        examples = [e for p in paths for e in read_examples(p)]
        if stores is not None:
            examples = _with_clips(examples, stores, speech_data, ", ".join(map(str, paths)))
        return ExampleDataset(examples, processor, max_target_tokens=max_target_tokens, teacher=teacher,
                              ctc_blank_id=ctc_blank_id,
                              **audio_lookups(stores, cached_features, Path(paths[0])))

    return dataset(train_data), dataset(eval_data) if eval_data else None


def _clip_refs(example) -> list[str]:
    if isinstance(example, InterleavedSample):
        return [segment.audio for segment in example.speech_segments]
    return [part["audio"] for part in example.audio_parts()]


def _synth_skipped(speech_data: Sequence[str]) -> dict[str, str]:
    """Clip id -> why `voxlm synth` made no audio for it (e.g. "unspeakable"), from the folders' manifests."""
    skipped = {}
    for folder in speech_data:
        manifest = Path(folder) / MANIFEST
        if manifest.is_file():
            for item in json.loads(manifest.read_text()).get("skipped_items", []):
                if "id" in item:
                    skipped[item["id"]] = item.get("reason", "skipped")
    return skipped


def _with_clips(examples: list, stores: ClipStores, speech_data: Sequence[str], where: str) -> list:
    """Checked before the first step, not when a batch first needs a clip: examples whose clips `voxlm synth`
    skipped (a span with nothing to say, such as ':-)') are left out, and a clip missing for any other reason
    is an error naming the command that makes it."""
    skipped = _synth_skipped(speech_data)
    kept, left_out, missing = [], [], []
    for example in examples:
        absent = [ref for ref in _clip_refs(example) if ref not in stores]
        if not absent:
            kept.append(example)
        elif all(ref in skipped for ref in absent):
            left_out.append(absent[0])
        else:
            missing.extend(ref for ref in absent if ref not in skipped)
    if missing:
        try:
            stores[missing[0]]
        except KeyError as error:  # the store's own message: which folder, and the command that makes the clip
            raise KeyError(f"{where}: {len(missing)} clip(s) of the examples are in no speech folder "
                           f"(first: {', '.join(map(repr, missing[:3]))}); {error.args[0]}") from None
    if left_out:
        reasons = sorted({skipped[ref] for ref in left_out})
        print(f"{where}: left out {len(left_out)} example(s) whose clips `voxlm synth` skipped ({', '.join(reasons)}; "
              f"its manifest.json lists them), e.g. {left_out[0]!r}")
    return kept


def check_no_held_out_voices(speech_dirs: Sequence[str]) -> None:
    """Refuse speech spoken by evaluation-only voices: the benchmarks' accent condition depends on it."""
    for folder in speech_dirs:
        manifest = Path(folder) / MANIFEST
        if manifest.is_file():
            held_out = json.loads(manifest.read_text()).get("clips_by_split", {}).get("held_out", 0)
            if held_out:
                raise ValueError(f"{folder} has {held_out} clips in held-out voices (evaluation only); "
                                 "synthesize training speech with `voxlm synth ... --voices train`")
