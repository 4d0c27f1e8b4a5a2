"""`voxlm train --recipe recipes/NAME.yaml [key=value ...] [--resume]`: recipe -> data -> Trainer."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..data.collate import VoxLMCollator
from ..data.train_data import build_alignment_data, build_datasets, build_hearing_set, check_no_held_out_voices
from ..model.modeling_voxlm import WEIGHTS_NAME
from .config import TrainConfig, load_config, read_stages
from .trainer import Trainer, build_model


def train(config: TrainConfig, resume: bool = False) -> Path:
    if not config.train_data:  # checked before the model takes seconds to load
        raise ValueError("the recipe names no train_data (JSONL examples: make them with `voxlm imitate` or `voxlm interleave`)")
    check_no_held_out_voices(config.speech_data)
    model, processor = build_model(config)
    encoder, skip_top = model.config.audio_model, model.config.encoder_trainable_layers  # which cached frames
    if config.objective == "ctc":
        train_set, eval_set, collate = build_alignment_data(
            config.train_data, config.eval_data, config.speech_data, processor.tokenizer, model.blank_token_id,
            encoder, skip_top)
    else:
        train_set, eval_set = build_datasets(
            config.train_data, config.eval_data, config.speech_data, processor, encoder,
            cached_features=config.cached_features, max_target_tokens=config.max_target_tokens,
            teacher=config.kl_weight > 0, skip_top=skip_top,
            ctc_blank_id=model.blank_token_id if config.ctc_weight else None)
        collate = VoxLMCollator(pad_token_id=processor.tokenizer.pad_token_id)
    hearing_set = (build_hearing_set(config.hearing_data, processor.tokenizer, model.blank_token_id, encoder, skip_top)
                   if config.hearing_data else None)
    return Trainer(config, model, processor, train_set, eval_set, collate, hearing_set=hearing_set).fit(resume=resume)


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
