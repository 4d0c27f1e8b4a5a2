"""`VoxLMConfig`: which speech encoder and LLM to join, and the shape of the connector between them."""

from __future__ import annotations

from transformers import PretrainedConfig

AUDIO_TOKEN = "<|audio|>"


class VoxLMConfig(PretrainedConfig):
    """Configuration of a VoxLM: frozen Whisper encoder -> trainable connector -> (frozen) causal LLM.

    Args:
        audio_model: voxlm asset name (`voxlm assets --list`) or local HF Whisper folder. `None` builds a
            randomly initialised encoder from `audio_config` (tests, experiments).
        text_model: voxlm asset name or local HF causal-LM folder; `None` builds one from `text_config`.
        audio_config: `WhisperConfig` kwargs, used only when `audio_model` is None.
        text_config: causal-LM config kwargs including `model_type`, used only when `text_model` is None.
        stack_factor: encoder frames (50 Hz) stacked into one LLM position; 4 -> 12.5 audio tokens per second.
        connector_hidden_size: width of the connector's SwiGLU layer.
        audio_token: placeholder the processor expands into one position per audio token.
        max_audio_seconds: longest audio accepted per placeholder; longer clips are split into 30 s windows.
        lora_rank: 0 keeps the LLM frozen; > 0 adds LoRA adapters (peft) of that rank to `lora_target_modules`.
        alignment_blank: text of the single LLM token that plays the CTC blank when the connector is aligned to
            the LLM's token embeddings (`objective: ctc`); a space, so blank positions read as spacing.
    """

    model_type = "voxlm"

    def __init__(
        self,
        audio_model: str | None = "whisper-tiny.en",
        text_model: str | None = "smollm2-135m-instruct",
        audio_config: dict | None = None,
        text_config: dict | None = None,
        stack_factor: int = 4,
        connector_hidden_size: int = 1024,
        audio_token: str = AUDIO_TOKEN,
        max_audio_seconds: float = 120.0,
        lora_rank: int = 0,
        lora_alpha: int = 16,
        lora_dropout: float = 0.0,
        lora_target_modules: tuple[str, ...] | list[str] = ("q_proj", "k_proj", "v_proj", "o_proj"),
        alignment_blank: str = " ",
        **kwargs,
    ):
        if audio_model is None and audio_config is None:
            raise ValueError("VoxLMConfig needs audio_model (an asset name or folder) or audio_config")
        if text_model is None and text_config is None:
            raise ValueError("VoxLMConfig needs text_model (an asset name or folder) or text_config")
        if stack_factor < 1:
            raise ValueError(f"stack_factor must be >= 1, got {stack_factor}")
        self.audio_model = audio_model
        self.text_model = text_model
        self.audio_config = audio_config
        self.text_config = text_config
        self.stack_factor = stack_factor
        self.connector_hidden_size = connector_hidden_size
        self.audio_token = audio_token
        self.max_audio_seconds = max_audio_seconds
        self.lora_rank = lora_rank
        self.lora_alpha = lora_alpha
        self.lora_dropout = lora_dropout
        self.lora_target_modules = list(lora_target_modules)
        self.alignment_blank = alignment_blank
        super().__init__(**kwargs)
