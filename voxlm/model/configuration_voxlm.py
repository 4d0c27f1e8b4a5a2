"""`VoxLMConfig`: which speech encoder and LLM to join, and the shape of the connector between them."""

from __future__ import annotations

from transformers import PretrainedConfig

AUDIO_TOKEN = "<|audio|>"
INTERFACES = ("projector", "soft_tokens")
# How audio enters the LLM, not what was trained: a checkpoint may be used, or trained further, with others.
INTERFACE_SETTINGS = ("interface", "blank_threshold", "soft_token_top_k", "lm_fusion_weight", "lm_fusion_beams")


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
        connector_layers: self-attention blocks over the connector's positions, before the output norm (0: none).
            Each starts as the identity, so a stage may raise it over a trained checkpoint (`init_from`).
        connector_heads: attention heads of those blocks; must divide the LLM's width.
        encoder_trainable_layers: the top N layers of the Whisper encoder (and its final layer norm) train with the
            connector; 0 keeps the whole encoder frozen. Cached features (`voxlm features --encoder-trainable-layers
            N`) then hold the frames below those layers, so training still never runs the frozen part.
        audio_token: placeholder the processor expands into one position per audio token.
        max_audio_seconds: longest audio accepted per placeholder; longer clips are split into 30 s windows.
        lora_rank: 0 keeps the LLM frozen; > 0 adds LoRA adapters (peft) of that rank to `lora_target_modules`.
        alignment_blank: text of the single LLM token that plays the CTC blank when the connector is aligned to
            the LLM's token embeddings (`objective: ctc`); a space, so blank positions read as spacing.
        alignment_logit_scale: multiplies every score of a connector position against a token embedding (the
            alignment CTC, the greedy transcript, the soft-token mix). The connector's output starts at the RMS of
            the LLM's embedding rows, so a position pointing at a token scores about that row's squared norm:
            ~10.6 for SmolLM2, 0.27 for Qwen2.5, whose near-flat softmax held alignment on an all-blank plateau
            for hundreds of steps until the connector's output gain had grown 25x (docs/qwen). Choose about
            10 / (mean squared row norm): 1 for SmolLM2, 40 for Qwen2.5.
        interface: how audio enters the LLM. `projector`: the connector's vectors as they are, one per stacked
            position (Ultravox). `soft_tokens`: each position is scored against the LLM's input-embedding table
            (LegoSLM); blank positions are dropped, repeats merged (greedy CTC), and each kept position enters as
            the probability mix of its `soft_token_top_k` likeliest real token embeddings, so the frozen LLM reads near-text.
        blank_threshold: with soft tokens, a position whose blank probability exceeds this is dropped.
        soft_token_top_k: with soft tokens, how many token embeddings each kept position mixes.
        lm_fusion_weight: with soft tokens, at inference only (eval mode), add this times the LLM's own log-probability
            of each kept position's candidates, given the prompt before the clip and the clip's greedy transcript so
            far, to their mix scores (shallow fusion with the LLM itself; one extra LLM pass over the transcript).
            0 turns it off. The LLM then picks "France" over "friends" after "the capital of" (docs/fusion).
        lm_fusion_beams: with `lm_fusion_weight`, 1 fuses position by position given the greedy transcript (one LLM
            pass over one row per clip); N > 1 then rescores each clip's N best transcripts under those scores as
            wholes (one more LLM pass over N rows per clip), so a token the LLM likes that makes the rest unlikely
            pays for it. Better transcripts, 2-3x the time to first token (docs/fusion).
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
        connector_layers: int = 0,
        connector_heads: int = 8,
        encoder_trainable_layers: int = 0,
        audio_token: str = AUDIO_TOKEN,
        max_audio_seconds: float = 120.0,
        lora_rank: int = 0,
        lora_alpha: int = 16,
        lora_dropout: float = 0.0,
        lora_target_modules: tuple[str, ...] | list[str] = ("q_proj", "k_proj", "v_proj", "o_proj"),
        alignment_blank: str = " ",
        alignment_logit_scale: float = 1.0,
        interface: str = "projector",
        blank_threshold: float = 0.5,
        soft_token_top_k: int = 8,
        lm_fusion_weight: float = 0.0,
        lm_fusion_beams: int = 1,
        **kwargs,
    ):
        if audio_model is None and audio_config is None:
            raise ValueError("VoxLMConfig needs audio_model (an asset name or folder) or audio_config")
        if text_model is None and text_config is None:
            raise ValueError("VoxLMConfig needs text_model (an asset name or folder) or text_config")
        if stack_factor < 1:
            raise ValueError(f"stack_factor must be >= 1, got {stack_factor}")
        if connector_layers < 0 or connector_heads < 1:
            raise ValueError(f"connector_layers must be >= 0 and connector_heads >= 1, got {connector_layers}, {connector_heads}")
        if encoder_trainable_layers < 0:
            raise ValueError(f"encoder_trainable_layers must be >= 0, got {encoder_trainable_layers}")
        if not alignment_logit_scale > 0:
            raise ValueError(f"alignment_logit_scale must be > 0, got {alignment_logit_scale}")
        if interface not in INTERFACES:
            raise ValueError(f"interface must be one of {', '.join(INTERFACES)}, got {interface!r}")
        if not 0.0 <= blank_threshold <= 1.0:
            raise ValueError(f"blank_threshold is a probability in [0, 1], got {blank_threshold}")
        if soft_token_top_k < 1:
            raise ValueError(f"soft_token_top_k must be >= 1, got {soft_token_top_k}")
        if lm_fusion_weight < 0:
            raise ValueError(f"lm_fusion_weight must be >= 0, got {lm_fusion_weight}")
        if lm_fusion_beams < 1:
            raise ValueError(f"lm_fusion_beams must be >= 1, got {lm_fusion_beams}")
        self.audio_model = audio_model
        self.text_model = text_model
        self.audio_config = audio_config
        self.text_config = text_config
        self.stack_factor = stack_factor
        self.connector_hidden_size = connector_hidden_size
        self.connector_layers = connector_layers
        self.connector_heads = connector_heads
        self.encoder_trainable_layers = encoder_trainable_layers
        self.audio_token = audio_token
        self.max_audio_seconds = max_audio_seconds
        self.lora_rank = lora_rank
        self.lora_alpha = lora_alpha
        self.lora_dropout = lora_dropout
        self.lora_target_modules = list(lora_target_modules)
        self.alignment_blank = alignment_blank
        self.alignment_logit_scale = alignment_logit_scale
        self.interface = interface
        self.blank_threshold = blank_threshold
        self.soft_token_top_k = soft_token_top_k
        self.lm_fusion_weight = lm_fusion_weight
        self.lm_fusion_beams = lm_fusion_beams
        super().__init__(**kwargs)
