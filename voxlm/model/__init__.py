"""The VoxLM triad (config, model, processor) and one loader that keeps them in sync."""

from __future__ import annotations

import sys
from pathlib import Path

from transformers import AutoConfig

from .configuration_voxlm import AUDIO_TOKEN, VoxLMConfig
from .connector import StackingConnector, num_audio_tokens
from .modeling_voxlm import VoxLMModel
from .processing_voxlm import VoxLMProcessor
from .shipped import DEFAULT_CHECKPOINT, UnknownModelError, resolve_checkpoint, shipped_models

AutoConfig.register(VoxLMConfig.model_type, VoxLMConfig, exist_ok=True)

def load_voxlm(checkpoint: str | Path | None = None, **config_overrides) -> tuple[VoxLMModel, VoxLMProcessor]:
    """A ready (model, processor) pair in eval mode.

    `checkpoint` is a shipped model's name (`voxlm models`) or a checkpoint folder; None takes the embedded
    default. If the package ships none yet, a fresh model with an untrained connector is built from the
    default config, and a warning says so.
    """
    checkpoint = resolve_checkpoint(checkpoint)
    if checkpoint is None:
        print("warning: no trained default checkpoint is installed; using an UNTRAINED connector, "
              "so answers will not reflect the audio (train one with `voxlm train`)", file=sys.stderr)
        model = VoxLMModel(VoxLMConfig(**config_overrides))
    else:
        model = VoxLMModel.from_pretrained(checkpoint, **config_overrides)
    processor = VoxLMProcessor.from_config(model.config)
    model.bind_tokenizer(processor.tokenizer)
    return model.eval(), processor


__all__ = [
    "AUDIO_TOKEN", "DEFAULT_CHECKPOINT", "StackingConnector", "UnknownModelError", "VoxLMConfig", "VoxLMModel",
    "VoxLMProcessor", "load_voxlm", "num_audio_tokens", "resolve_checkpoint", "shipped_models",
]
