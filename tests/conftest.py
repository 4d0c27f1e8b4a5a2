"""Shared fixtures: a tiny random VoxLM (2-layer encoder, 2-layer LLM) and its processor, built in a second."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from voxlm.model import VoxLMConfig, VoxLMModel, VoxLMProcessor

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@pytest.fixture(scope="session")
def tiny_tokenizer_factory():
    """A fresh byte-level BPE tokenizer per call (the processor adds its audio token to the one it gets)."""
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    corpus = ["the quick brown fox jumps over the lazy dog", "what is said in this audio clip", "hello world"] * 20
    core.train_from_iterator(
        corpus,
        trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                            initial_alphabet=pre_tokenizers.ByteLevel.alphabet()),
    )

    def make():
        return PreTrainedTokenizerFast(
            tokenizer_object=Tokenizer.from_str(core.to_str()),
            eos_token="<|im_end|>",
            pad_token="<|endoftext|>",
            chat_template=CHAT_TEMPLATE,
        )

    return make


def tiny_config(vocab_size: int, **overrides) -> VoxLMConfig:
    settings = dict(
        audio_model=None,
        text_model=None,
        audio_config=dict(d_model=16, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=32, num_mel_bins=80),
        text_config=dict(model_type="llama", vocab_size=vocab_size, hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=4096, tie_word_embeddings=True,
                         # Wide enough embeddings that a frozen random LLM can still produce peaked logits.
                         initializer_range=0.5),
        stack_factor=4,
        connector_hidden_size=32,
    )
    settings.update(overrides)
    return VoxLMConfig(**settings)


@pytest.fixture
def make_tiny(tiny_tokenizer_factory):
    """`make_tiny(**config_overrides) -> (model, processor)`, seeded so two calls build identical base models."""

    def make(seed: int = 0, **overrides):
        tokenizer = tiny_tokenizer_factory()
        config = tiny_config(len(tokenizer), **overrides)
        torch.manual_seed(seed)
        model = VoxLMModel(config)
        processor = VoxLMProcessor.from_config(config, tokenizer=tokenizer)
        model.bind_tokenizer(processor.tokenizer)
        return model.eval(), processor

    return make


@pytest.fixture
def tone():
    """`tone(seconds, sr=16000) -> float32 wave`: a 440 Hz tone with a little noise."""

    def make(seconds: float, sr: int = 16_000) -> np.ndarray:
        t = np.arange(int(seconds * sr)) / sr
        rng = np.random.default_rng(0)
        return (0.3 * np.sin(2 * np.pi * 440 * t) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)

    return make
