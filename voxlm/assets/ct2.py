"""Read CTranslate2 Whisper checkpoints and rebuild them as HF `WhisperForConditionalGeneration`.

The only Whisper weights that ship offline are CTranslate2 `model.bin` files. The format is
documented and simple (little-endian header, then named tensors, then aliases), so we read it
with `struct` + numpy rather than depending on ctranslate2 internals.
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import numpy as np

# CTranslate2 dtype codes -> numpy dtypes (bf16 has no numpy type; it is widened below).
_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16, 5: np.uint16}


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, fmt: str):
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def string(self) -> str:
        (length,) = self.take("H")  # counts the trailing NUL
        text = self.data[self.pos : self.pos + length - 1].decode("utf-8")
        self.pos += length
        return text


def read_ct2(data: bytes) -> tuple[str, dict[str, np.ndarray]]:
    """Parse a CTranslate2 `model.bin` -> (spec name, {variable name: array}); aliases resolved."""
    reader = _Reader(data)
    (version,) = reader.take("I")
    if version < 5:
        raise ValueError(f"CTranslate2 model.bin version {version} is too old (need >= 5)")
    spec = reader.string()
    reader.take("I")  # spec revision
    (count,) = reader.take("I")
    variables: dict[str, np.ndarray] = {}
    for _ in range(count):
        name = reader.string()
        (rank,) = reader.take("B")
        shape = reader.take("I" * rank)
        dtype_code, nbytes = reader.take("BI")
        raw = np.frombuffer(data, dtype=_DTYPES[dtype_code], count=nbytes // np.dtype(_DTYPES[dtype_code]).itemsize,
                            offset=reader.pos)
        if dtype_code == 5:  # bf16: the high half of a float32
            raw = (raw.astype(np.uint32) << 16).view(np.float32)
        variables[name] = raw.reshape(shape)
        reader.pos += nbytes
    if reader.pos < len(data):
        (n_aliases,) = reader.take("I")
        for _ in range(n_aliases):
            alias, target = reader.string(), reader.string()
            variables[alias] = variables[target]
    return spec, variables


# CTranslate2 sub-module name -> HF Whisper name, per layer.
_LAYER_NAMES = {
    "self_attention/layer_norm": "self_attn_layer_norm",
    "self_attention/linear_1": "self_attn.out_proj",
    "attention/layer_norm": "encoder_attn_layer_norm",
    "attention/linear_0": "encoder_attn.q_proj",
    "attention/linear_2": "encoder_attn.out_proj",
    "ffn/layer_norm": "final_layer_norm",
    "ffn/linear_0": "fc1",
    "ffn/linear_1": "fc2",
}
_PARAM = {"gamma": "weight", "beta": "bias", "weight": "weight", "bias": "bias"}


def whisper_state_dict(variables: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Rename (and split fused q/k/v) CTranslate2 Whisper tensors into HF `WhisperForConditionalGeneration` keys."""
    out: dict[str, np.ndarray] = {}
    for name, value in variables.items():
        if value.ndim == 0:  # scalar flags (num_heads, pre_norm, ...) are config, not weights
            continue
        value = value.astype(np.float32)
        stack, _, rest = name.partition("/")
        if stack not in ("encoder", "decoder"):
            continue
        prefix = f"model.{stack}"
        match = re.fullmatch(r"layer_(\d+)/(.+)/(\w+)", rest)
        if match:
            index, module, param = match.groups()
            base = f"{prefix}.layers.{index}"
            if module == "self_attention/linear_0":  # q, k, v fused along dim 0; HF k_proj has no bias
                for part, chunk in zip("qkv", np.split(value, 3, axis=0)):
                    if not (part == "k" and param == "bias"):
                        out[f"{base}.self_attn.{part}_proj.{param}"] = chunk
            elif module == "attention/linear_1":  # cross-attention k, v fused
                for part, chunk in zip("kv", np.split(value, 2, axis=0)):
                    if not (part == "k" and param == "bias"):
                        out[f"{base}.encoder_attn.{part}_proj.{param}"] = chunk
            else:
                out[f"{base}.{_LAYER_NAMES[module]}.{_PARAM[param]}"] = value
        elif rest in ("conv1/weight", "conv1/bias", "conv2/weight", "conv2/bias"):
            out[f"{prefix}.{rest.replace('/', '.')}"] = value
        elif rest.startswith("layer_norm/"):
            out[f"{prefix}.layer_norm.{_PARAM[rest.split('/')[1]]}"] = value
        elif rest == "position_encodings/encodings":
            out[f"{prefix}.embed_positions.weight"] = value
        elif rest == "embeddings/weight":
            out[f"{prefix}.embed_tokens.weight"] = value
        # decoder/projection is an alias of the embeddings: HF ties proj_out to embed_tokens.
    return out


def whisper_config(variables: dict[str, np.ndarray]):
    """Infer a `WhisperConfig` from tensor shapes and the scalar head counts."""
    from transformers import WhisperConfig

    def count_layers(stack: str) -> int:
        return len({m.group(1) for k in variables if (m := re.match(rf"{stack}/layer_(\d+)/", k))})

    d_model, n_mels, _ = variables["encoder/conv1/weight"].shape
    vocab = variables["decoder/embeddings/weight"].shape[0]
    # English-only checkpoints have one fewer token; their special ids sit one lower.
    eot = 50257 if vocab >= 51865 else 50256
    return WhisperConfig(
        vocab_size=vocab,
        num_mel_bins=n_mels,
        d_model=d_model,
        encoder_layers=count_layers("encoder"),
        decoder_layers=count_layers("decoder"),
        encoder_attention_heads=int(variables["encoder/num_heads"]),
        decoder_attention_heads=int(variables["decoder/num_heads"]),
        encoder_ffn_dim=variables["encoder/layer_0/ffn/linear_0/weight"].shape[0],
        decoder_ffn_dim=variables["decoder/layer_0/ffn/linear_0/weight"].shape[0],
        max_source_positions=variables["encoder/position_encodings/encodings"].shape[0],
        max_target_positions=variables["decoder/position_encodings/encodings"].shape[0],
        bos_token_id=eot,
        eos_token_id=eot,
        pad_token_id=eot,
        decoder_start_token_id=eot + 1,
        tie_word_embeddings=True,
    )


def whisper_generation_config(config, ct2_config: dict, vocab: dict[str, int]):
    """Whisper's generation settings (suppressed tokens, language/task ids) from CTranslate2's config.json."""
    from transformers import GenerationConfig

    # English-only checkpoints also list language ids in CTranslate2's config; only the vocabulary tells.
    multilingual = config.vocab_size >= 51865
    lang_ids = set(ct2_config.get("lang_ids", []))
    gen = GenerationConfig(
        decoder_start_token_id=config.decoder_start_token_id,
        bos_token_id=config.bos_token_id,
        eos_token_id=config.eos_token_id,
        pad_token_id=config.pad_token_id,
        max_length=config.max_target_positions,
        suppress_tokens=ct2_config.get("suppress_ids", []),
        begin_suppress_tokens=ct2_config.get("suppress_ids_begin", []),
        alignment_heads=ct2_config.get("alignment_heads", []),
        no_timestamps_token_id=vocab["<|notimestamps|>"],
        is_multilingual=multilingual,
    )
    if multilingual:
        gen.lang_to_id = {tok: idx for tok, idx in vocab.items() if idx in lang_ids}
        gen.task_to_id = {"transcribe": vocab["<|transcribe|>"], "translate": vocab["<|translate|>"]}
    return gen


def convert_whisper(model_bin: bytes, model_dir: Path, out_dir: Path) -> None:
    """Write an HF Whisper folder (model, generation config, tokenizer, feature extractor) to `out_dir`."""
    import torch
    from transformers import WhisperFeatureExtractor, WhisperForConditionalGeneration, WhisperTokenizerFast

    spec, variables = read_ct2(model_bin)
    if spec != "WhisperSpec":
        raise ValueError(f"expected a CTranslate2 WhisperSpec model, got {spec}")
    config = whisper_config(variables)
    model = WhisperForConditionalGeneration(config)
    state = {k: torch.from_numpy(v.copy()) for k, v in whisper_state_dict(variables).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if k != "proj_out.weight"]  # tied to embed_tokens
    if missing or unexpected:
        raise ValueError(f"CTranslate2 -> HF Whisper mapping incomplete: missing {missing}, unexpected {unexpected}")
    model.tie_weights()

    tokenizer = WhisperTokenizerFast(tokenizer_file=str(model_dir / "tokenizer.json"))
    ct2_config = json.loads((model_dir / "config.json").read_text()) if (model_dir / "config.json").exists() else {}
    model.generation_config = whisper_generation_config(config, ct2_config, tokenizer.get_vocab())
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    WhisperFeatureExtractor(feature_size=config.num_mel_bins).save_pretrained(out_dir)
