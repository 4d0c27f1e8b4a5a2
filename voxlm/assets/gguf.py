"""Turn a packaged GGUF LLM into a plain HF folder that loads in seconds with `from_pretrained`.

transformers de-quantizes GGUF on every load (30-80 s); doing it once here and saving safetensors
makes every later load fast, and strips the GGUF quantization marker that `save_pretrained` refuses.
"""

from __future__ import annotations

from pathlib import Path


def convert_gguf(gguf_file: Path, out_dir: Path) -> None:
    """De-quantize `gguf_file` to fp32 and write model + tokenizer (+ chat template) to `out_dir`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_file.parent), gguf_file.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    quantized = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(quantized.state_dict(), assign=True, strict=True)
    model.tie_weights()
    model.generation_config = quantized.generation_config
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
