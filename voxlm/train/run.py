"""`voxlm train --recipe recipes/NAME.yaml [key=value ...] [--resume]`: recipe -> data -> Trainer."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..data.collate import VoxLMCollator
from ..data.examples import ExampleDataset, read_examples
from ..data.transcripts import TranscriptCollator, TranscriptDataset, drop_held_out, read_transcribed_clips
from ..model.modeling_voxlm import WEIGHTS_NAME
from .config import TrainConfig, load_config, read_stages
from .trainer import Trainer, build_model


class ClipStores:
    """Several clip stores searched in order, as one: `stores[ref]` from the first that holds `ref`."""

    def __init__(self, stores: list):
        self.stores = stores

    def _holder(self, ref: str):
        # The last store when none holds `ref`: its own KeyError names the command that makes the clip.
        return next((store for store in self.stores if ref in store), self.stores[-1])

    def __getitem__(self, ref: str):
        return self._holder(ref)[ref]

    def num_frames(self, ref: str) -> int:
        return self._holder(ref).num_frames(ref)


def audio_lookups(config: TrainConfig, data_file: Path, audio_model: str) -> dict:
    """How example audio refs resolve: cached frames or waves of synth folders, or files next to the JSONL."""
    from ..data.features import AudioStore, FeatureStore

    if config.speech_data and config.cached_features:
        return {"frames": ClipStores([FeatureStore(d, audio_model=audio_model) for d in config.speech_data])}
    if config.speech_data:
        stores = ClipStores([AudioStore(d) for d in config.speech_data])
        return {"wave": lambda ref: stores[ref][0]}
    return {"wave": lambda ref: str((data_file.parent / ref).resolve())}


def build_alignment_data(config: TrainConfig, model, processor) -> tuple[TranscriptDataset, TranscriptDataset | None, TranscriptCollator]:
    """(clip, transcript) pairs for `objective: ctc`; clips whose words are also held out never train."""
    frames = audio_lookups(config, Path(config.train_data[0]), model.config.audio_model)["frames"]
    train_pairs = read_transcribed_clips(config.train_data)
    eval_pairs = read_transcribed_clips(config.eval_data)
    train_pairs, dropped = drop_held_out(train_pairs, eval_pairs)
    if dropped:
        print(f"alignment: left out {dropped} training clips whose transcripts are also in eval_data")
    train_set, eval_set = (TranscriptDataset(pairs, processor.tokenizer, frames, model.blank_token_id)
                           for pairs in (train_pairs, eval_pairs))
    collate = TranscriptCollator(train_set.vocab + eval_set.vocab)
    return train_set, eval_set if eval_pairs else None, collate


def build_datasets(config: TrainConfig, processor, processor_audio_model: str) -> tuple[ExampleDataset, ExampleDataset | None]:
    def dataset(paths: list[str]) -> ExampleDataset:
        examples = [e for p in paths for e in read_examples(p)]
        return ExampleDataset(examples, processor, max_target_tokens=config.max_target_tokens,
                              teacher=config.kl_weight > 0,
                              **audio_lookups(config, Path(paths[0]), processor_audio_model))

    return dataset(config.train_data), dataset(config.eval_data) if config.eval_data else None


def check_no_held_out_voices(speech_dirs: list[str]) -> None:
    """Refuse speech spoken by evaluation-only voices: the benchmarks' accent condition depends on it."""
    import json

    for folder in speech_dirs:
        manifest = Path(folder) / "manifest.json"
        if manifest.is_file():
            held_out = json.loads(manifest.read_text()).get("clips_by_split", {}).get("held_out", 0)
            if held_out:
                raise ValueError(f"{folder} has {held_out} clips in held-out voices (evaluation only); "
                                 "synthesize training speech with `voxlm synth ... --voices train`")


def train(config: TrainConfig, resume: bool = False) -> Path:
    if not config.train_data:  # checked before the model takes seconds to load
        raise ValueError("the recipe names no train_data (JSONL examples: make them with `voxlm imitate` or `voxlm interleave`)")
    check_no_held_out_voices(config.speech_data)
    model, processor = build_model(config)
    if config.objective == "ctc":
        train_set, eval_set, collate = build_alignment_data(config, model, processor)
    else:
        train_set, eval_set = build_datasets(config, processor, model.config.audio_model)
        collate = VoxLMCollator(pad_token_id=processor.tokenizer.pad_token_id)
    return Trainer(config, model, processor, train_set, eval_set, collate).fit(resume=resume)


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--recipe", help="recipe YAML (see recipes/)")
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in output_dir")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="override recipe keys, e.g. max_steps=50 model.lora_rank=8")


def _finished(model_dir: Path) -> bool:
    """A stage stopped before its last step (SIGTERM) leaves checkpoints but no final weights."""
    return (model_dir / WEIGHTS_NAME).is_file()


def run_train(args: argparse.Namespace) -> int:
    """One recipe, or a chain (`stages:`) where each stage starts from the previous stage's final model."""
    stages = read_stages(args.recipe) if args.recipe else None
    if stages is None:
        final = train(load_config(args.recipe, args.overrides), resume=args.resume)
    else:
        final = None
        for number, stage in enumerate(stages, 1):
            if final is not None:
                stage["init_from"] = str(final)
            config = load_config(stage, args.overrides)
            print(f"stage {number}/{len(stages)}: {config.recipe} -> {config.output_dir}")
            done = Path(config.output_dir) / "final"
            # A finished stage is not trained again when the chain is rerun.
            final = done if _finished(done) else train(config, resume=args.resume)
            if not _finished(final):
                break  # stopped (SIGTERM): later stages must not start from an unfinished one
    if not _finished(final):
        print(f"stopped before the last step: no {final} yet; rerun the same command with --resume")
        return 1
    print(f"trained model: {final}")
    return 0
