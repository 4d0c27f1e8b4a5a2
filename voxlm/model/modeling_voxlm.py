"""`VoxLMModel`: Whisper encoder -> connector -> splice into the LLM's input embeddings -> LLM.

The whole forward pass is `embed_inputs` + one LLM call: audio embeddings replace the `<|audio|>`
placeholder positions that the processor expanded, so speech and text interleave anywhere in a
sequence and a sample may carry several audio spans. With `interface: soft_tokens` each audio
position is first read as the LLM's own tokens (`soft_tokens.py`): the positions greedy CTC drops
are masked out of attention and left out of the position ids, so the LLM sees exactly the
compacted sequence while every tensor keeps the shape the processor gave it (batched `generate`,
streaming, labels and the KL teacher all line up unchanged).

The connector can also be aligned on its own: `forward(ctc_vocab=...)` (no `input_ids`) gives the
`alignment_logits`, each connector position scored against the LLM's own (frozen) token embeddings,
with no LLM pass; `voxlm.train.objectives.alignment_ctc_loss` ties them to the transcript's tokens, so
the connector learns to emit, position by position, the embeddings of the words that were said.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM, GenerationConfig, PreTrainedModel, WhisperConfig
from transformers.modeling_outputs import CausalLMOutput, CausalLMOutputWithPast
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from ..assets import resolve_model_path
from ..files import write_atomic
from .configuration_voxlm import VoxLMConfig
from .connector import StackingConnector, num_audio_tokens
from .soft_tokens import clip_starts, greedy_ctc, llm_beam_fusion, llm_fusion_scores, soft_token_mix, top_candidates

WEIGHTS_NAME = "model.safetensors"
GENERATION_CONFIG_NAME = "generation_config.json"


def run_encoder(encoder: WhisperEncoder, input_features: torch.Tensor, audio_lengths: torch.Tensor,
                skip_top: int = 0) -> torch.Tensor:
    """Log-mels `[windows, mel_bins, >= 2 * frames]` -> encoder frames `[windows, longest, d_model]`, zero past
    each window's `audio_lengths` frames.

    Each window runs at its own real length, the positional embeddings sliced to it (as Ultravox runs
    Whisper), rather than padded to 30 s: a 5 s question costs a sixth of a window, and the connector's
    greedy CTC transcript of held-out speech is as good either way (`bench/connector_hearing.py`).
    One window at a time, so a window's frames never depend on the others in its batch.
    `skip_top` > 0 stops below the top `skip_top` layers and the final norm (`run_encoder_top` runs them):
    the frames a model that trains those layers caches.
    """
    dtype = encoder.conv1.weight.dtype
    layers = encoder.layers[: len(encoder.layers) - skip_top]
    out = []
    for mel, frames in zip(input_features, audio_lengths.tolist()):
        hidden = F.gelu(encoder.conv1(mel[None, :, : 2 * frames].to(dtype)))
        hidden = F.gelu(encoder.conv2(hidden)).transpose(1, 2)  # 1, frames, d_model
        hidden = hidden + encoder.embed_positions.weight[: hidden.shape[1]]
        for layer in layers:
            hidden = layer(hidden, None)
        out.append((hidden if skip_top else encoder.layer_norm(hidden))[0])
    return nn.utils.rnn.pad_sequence(out, batch_first=True)


def run_encoder_top(encoder: WhisperEncoder, frames: torch.Tensor, audio_lengths: torch.Tensor, top: int) -> torch.Tensor:
    """The rest of `run_encoder(..., skip_top=top)`: frames `[windows, longest, d_model]` below the top `top` layers
    -> the encoder's output frames, same shape.

    Batched (these layers train, so they run on every step): each window attends only to its own
    `audio_lengths` frames, so it gets the frames it gets alone; frames past its length are left as they come out.
    """
    padding = torch.arange(frames.shape[1], device=frames.device)[None, :] >= audio_lengths.to(frames.device)[:, None]
    # An additive mask `[windows, 1, queries, keys]`: no query attends to a padding key.
    mask = padding[:, None, None, :].to(frames.dtype) * torch.finfo(frames.dtype).min
    hidden = frames
    for layer in encoder.layers[len(encoder.layers) - top:]:
        hidden = layer(hidden, mask.expand(-1, 1, frames.shape[1], -1))
    return encoder.layer_norm(hidden)


def load_whisper_encoder(path: Path) -> WhisperEncoder:
    """Only the encoder half of an HF Whisper folder: the decoder is never used by VoxLM."""
    encoder = WhisperEncoder(WhisperConfig.from_pretrained(path))
    prefix = "model.encoder."
    state = {k[len(prefix):]: v for k, v in load_file(path / WEIGHTS_NAME).items() if k.startswith(prefix)}
    encoder.load_state_dict(state, strict=True)
    return encoder


class VoxLMModel(PreTrainedModel):
    """A speech LLM: frozen speech encoder, trainable connector, frozen (optionally LoRA-adapted) LLM.

    Inputs (as built by `VoxLMProcessor`):
        input_ids `[batch, seq]` with `audio_token_id` at every audio position;
        input_features `[clips, mel_bins, mel frames]` Whisper log-mels (`log_mel`), one row per window of
            at most 30 s, in the order the windows appear in the batch; or audio_frames `[clips, frames,
            encoder_dim]`, cached encoder outputs that skip the encoder (training from `voxlm features`);
        audio_lengths `[clips]` real encoder frames per window (the rest is padding).
    """

    config_class = VoxLMConfig
    base_model_prefix = "voxlm"
    main_input_name = "input_ids"

    def __init__(self, config: VoxLMConfig):
        super().__init__(config)
        if config.audio_model is not None:
            self.audio_tower = load_whisper_encoder(resolve_model_path(config.audio_model))
        else:
            self.audio_tower = WhisperEncoder(WhisperConfig(**config.audio_config))
        if config.text_model is not None:
            self.language_model = AutoModelForCausalLM.from_pretrained(
                resolve_model_path(config.text_model), dtype=torch.float32
            )
        else:
            self.language_model = AutoModelForCausalLM.from_config(AutoConfig.for_model(**config.text_config))
        self.audio_tower.requires_grad_(False).eval()
        self.language_model.requires_grad_(False)
        if config.encoder_trainable_layers:
            if config.encoder_trainable_layers > len(self.audio_tower.layers):
                raise ValueError(f"encoder_trainable_layers={config.encoder_trainable_layers}, but the encoder has "
                                 f"{len(self.audio_tower.layers)} layers")
            self.audio_tower.layers[-config.encoder_trainable_layers:].requires_grad_(True)
            self.audio_tower.layer_norm.requires_grad_(True)

        embeddings = self.language_model.get_input_embeddings().weight
        self.connector = StackingConnector(
            encoder_dim=self.audio_tower.config.d_model,
            llm_dim=embeddings.shape[1],
            stack_factor=config.stack_factor,
            hidden_size=config.connector_hidden_size,
            layers=config.connector_layers,
            heads=config.connector_heads,
            output_scale=embeddings.detach().pow(2).mean(dim=-1).sqrt().mean().item(),
        )
        if config.lora_rank > 0:
            from peft import LoraConfig, get_peft_model

            self.language_model = get_peft_model(
                self.language_model,
                LoraConfig(
                    r=config.lora_rank,
                    lora_alpha=config.lora_alpha,
                    lora_dropout=config.lora_dropout,
                    target_modules=list(config.lora_target_modules),
                    task_type="CAUSAL_LM",
                ),
            )
        # Set from the processor's tokenizer by `bind_tokenizer`.
        self.audio_token_id: int | None = None
        self.blank_token_id: int | None = None
        # No `post_init()`: its weight initialisation would overwrite the pretrained encoder we just loaded, and
        # every submodule is already initialised (pretrained, or by its own constructor).
        self.all_tied_weights_keys = {}

    def train(self, mode: bool = True):
        super().train(mode)
        self.audio_tower.eval()  # no dropout or layer drop, even in the layers that train
        return self

    def bind_tokenizer(self, tokenizer) -> None:
        """Learn the placeholder's (and the alignment blank's) id from the tokenizer that will feed this model."""
        self.audio_token_id = tokenizer.convert_tokens_to_ids(self.config.audio_token)
        blank = tokenizer(self.config.alignment_blank, add_special_tokens=False).input_ids
        self.blank_token_id = blank[0] if len(blank) == 1 else None

    # ---- the forward pass --------------------------------------------------------------------

    def encode_audio(
        self,
        audio_lengths: torch.Tensor,
        input_features: torch.Tensor | None = None,
        audio_frames: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Audio windows -> `[total_audio_tokens, llm_dim]`, the valid tokens of every window concatenated.

        `audio_frames` are cached frames: the encoder's output, or with `encoder_trainable_layers` N the frames
        below its top N layers, which then run here (with gradient).
        """
        top = self.config.encoder_trainable_layers
        if audio_frames is None:
            with torch.no_grad():
                audio_frames = run_encoder(self.audio_tower, input_features, audio_lengths, skip_top=top)
        if top:
            audio_frames = run_encoder_top(self.audio_tower, audio_frames.to(self.audio_tower.conv1.weight.dtype),
                                           audio_lengths, top)
        # Zero the frames past each clip's end: the last stacked position then sees the same input however
        # the clips of a batch were padded to one length.
        lengths = audio_lengths.to(audio_frames.device)
        real = torch.arange(audio_frames.shape[1], device=audio_frames.device)[None, :] < lengths[:, None]
        audio_frames = audio_frames * real.unsqueeze(-1)
        tokens = self.connector(audio_frames.to(self.connector.up.weight.dtype), lengths)  # clips, T/k, D
        counts = torch.tensor(
            [num_audio_tokens(int(n), self.config.stack_factor) for n in audio_lengths], device=tokens.device
        )
        valid = torch.arange(tokens.shape[1], device=tokens.device)[None, :] < counts[:, None]
        return tokens[valid]

    def audio_token_logits(self, positions: torch.Tensor) -> torch.Tensor:
        """`[..., llm_dim]` connector positions -> `[..., vocab]` scores against the LLM's input embeddings
        (the alignment blank's row plays the CTC blank)."""
        return self._score(positions, self.language_model.get_input_embeddings().weight)

    def _score(self, positions: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """`[..., llm_dim]` x `[rows, llm_dim]` -> `[..., rows]`: dot products times `config.alignment_logit_scale`,
        the one scoring rule of transcript, soft tokens and alignment CTC."""
        return (positions @ rows.to(positions.dtype).T) * self.config.alignment_logit_scale

    def _require_blank(self) -> int:
        if self.blank_token_id is None:
            raise RuntimeError("call model.bind_tokenizer(processor.tokenizer) first; alignment_blank must be one token")
        return self.blank_token_id

    def embed_inputs(
        self,
        input_ids: torch.LongTensor,
        input_features: torch.Tensor | None = None,
        audio_frames: torch.Tensor | None = None,
        audio_lengths: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(token embeddings `[batch, seq, llm_dim]` with audio written at the placeholder positions,
        attention mask `[batch, seq]`: the given one, or all ones, minus the audio positions soft tokens drop)."""
        if self.audio_token_id is None:
            raise RuntimeError("call model.bind_tokenizer(processor.tokenizer) before running the model")
        is_audio = input_ids == self.audio_token_id
        mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        # The placeholder id may lie outside the LLM's vocabulary: never look it up.
        embeds = self.language_model.get_input_embeddings()(input_ids.masked_fill(is_audio, 0))
        has_audio = input_features is not None or audio_frames is not None
        n_positions = int(is_audio.sum())
        if not has_audio:
            if n_positions:
                raise ValueError(f"input_ids hold {n_positions} audio positions but no audio was given")
            return embeds, mask
        audio_embeds = self.encode_audio(audio_lengths, input_features, audio_frames)
        if audio_embeds.shape[0] != n_positions:
            raise ValueError(
                f"audio gives {audio_embeds.shape[0]} tokens but input_ids hold {n_positions} audio positions; "
                "build inputs with VoxLMProcessor so each placeholder is expanded to its clip's length"
            )
        if self.config.interface == "soft_tokens":
            picked, bias, keep, _ = self._read_positions(audio_embeds, input_ids, mask)
            table = self.language_model.get_input_embeddings().weight
            audio_embeds = soft_token_mix(audio_embeds, table, picked, self.config.alignment_logit_scale, bias)
            mask = mask.masked_scatter(is_audio, mask[is_audio] * keep.to(mask.dtype))
        return embeds.masked_scatter(is_audio.unsqueeze(-1), audio_embeds.to(embeds.dtype)), mask

    @torch.no_grad()
    def _read_positions(
        self, audio_embeds: torch.Tensor, input_ids: torch.LongTensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor]:
        """How the soft-token interface reads the audio positions of `input_ids` (row-major):
        (candidates `[P, k]`, fusion bias `[P, k]` or None, keep `[P]` bool, best token `[P]`).

        Greedy CTC decides which positions are kept. With `lm_fusion_weight` and the model in eval mode, each kept
        position's candidates are rescored by the LLM given the prompt text before its clip (earlier clips'
        placeholders left out) and the clip's greedy transcript so far (with `lm_fusion_beams` > 1, the best few
        transcripts by those scores are then rescored by the LLM as wholes, and the best is read); a kept position
        whose fused best token repeats the one just before it in the same clip then merges into it, as greedy CTC
        merges repeats.
        Training never fuses: the LM stages teach the connector to be read without it, at no extra LLM pass.
        """
        blank = self._require_blank()
        is_audio = input_ids == self.audio_token_id
        logits = self.audio_token_logits(audio_embeds.detach())
        starts = clip_starts(is_audio)
        tokens, keep = greedy_ctc(logits, blank, self.config.blank_threshold, starts)
        picked = top_candidates(logits, blank, self.config.soft_token_top_k)
        if not self.config.lm_fusion_weight or self.training or not keep.any():
            return picked, None, keep, tokens
        clip_of = torch.cumsum(starts.long(), 0) - 1
        where = is_audio.nonzero()  # [P, 2]: row, column of each audio position
        contexts, candidates, kept = [], [], []
        for c in range(int(clip_of[-1]) + 1):
            in_clip = clip_of == c
            kept_here = (in_clip & keep).nonzero()[:, 0]
            if not len(kept_here):  # an all-blank clip: nothing for the LLM to choose
                continue
            row, column = (int(x) for x in where[int(in_clip.nonzero()[0])])
            text = (attention_mask[row, :column] == 1) & ~is_audio[row, :column]
            contexts.append(input_ids[row, :column][text].tolist())
            kept.append(kept_here)
            candidates.append(picked[kept_here])
        bias = torch.zeros(picked.shape, dtype=torch.float32, device=picked.device)
        ctc = logits.gather(1, picked).float()
        previous_kept = torch.cat([keep.new_zeros(1), keep[:-1]]) & ~starts
        weight = self.config.lm_fusion_weight
        fusion = [weight * s for s in llm_fusion_scores(self.language_model, contexts, candidates)]
        if self.config.lm_fusion_beams > 1:  # the one-pass choice and its runners-up, rescored as whole transcripts
            fusion = [b for _, b in llm_beam_fusion(
                self.language_model, contexts, candidates, [ctc[i] for i in kept], [previous_kept[i] for i in kept],
                weight, self.config.lm_fusion_beams, local_scores=fusion)]
        for index, scores in zip(kept, fusion):
            bias[index] = scores.to(bias.device)
        best = picked.gather(1, (ctc + bias).argmax(1, keepdim=True))[:, 0]
        repeat = previous_kept & (best == torch.cat([best.new_full((1,), -1), best[:-1]]))
        return picked, bias, keep & ~repeat, best

    @torch.no_grad()
    def transcribe_clips(
        self,
        audio_lengths: torch.Tensor,
        input_features: torch.Tensor | None = None,
        audio_frames: torch.Tensor | None = None,
        blank_threshold: float | None = None,
    ) -> list[list[int]]:
        """Each audio window's greedy CTC transcript over the LLM's whole vocabulary, as LLM token ids (as
        `transcribe` reads a row's clips, with no `input_ids`, and never fused with the LLM): how the alignment
        and every later stage measure what the connector itself hears. `blank_threshold` overrides the config's for this call only."""
        blank = self._require_blank()
        positions = self.encode_audio(audio_lengths, input_features, audio_frames)
        counts = num_audio_tokens(audio_lengths.to(positions.device), self.config.stack_factor)
        starts = torch.zeros(len(positions), dtype=torch.bool, device=positions.device)
        starts[torch.cumsum(counts, 0)[:-1]] = True
        starts[0] = True
        threshold = self.config.blank_threshold if blank_threshold is None else blank_threshold
        tokens, keep = greedy_ctc(self.audio_token_logits(positions), blank, threshold, starts)
        return [t[k].tolist() for t, k in zip(tokens.split(counts.tolist()), keep.split(counts.tolist()))]

    @torch.no_grad()
    def transcribe(
        self,
        input_ids: torch.LongTensor,
        input_features: torch.Tensor | None = None,
        audio_frames: torch.Tensor | None = None,
        audio_lengths: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        **_,
    ) -> list[list[int]]:
        """The connector's CTC transcript of each row's audio, as LLM token ids: no Whisper decoder, and exactly the
        tokens the soft-token interface hands the LLM (as their best guess), so with `lm_fusion_weight` (eval mode)
        the LLM's fused choice, read after the row's text before each clip."""
        is_audio = input_ids == self.audio_token_id
        mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        positions = self.encode_audio(audio_lengths, input_features, audio_frames)
        _, _, keep, best = self._read_positions(positions, input_ids, mask)
        rows = is_audio.nonzero()[:, 0]
        return [best[keep & (rows == r)].tolist() for r in range(input_ids.shape[0])]

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        input_features: torch.Tensor | None = None,
        audio_frames: torch.Tensor | None = None,
        audio_lengths: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        ctc_vocab: torch.LongTensor | None = None,
        **kwargs,
    ) -> CausalLMOutputWithPast | CausalLMOutput:
        """Logits `[batch, seq, vocab]`; with `labels` also the mean cross-entropy over labelled positions.

        Audio positions never carry a loss, whatever `labels` says there. With `ctc_vocab` and no
        `input_ids`: the connector's `alignment_logits` alone (no LLM pass, no loss).
        """
        if ctc_vocab is not None and input_ids is None:
            return CausalLMOutput(logits=self.alignment_logits(ctc_vocab, audio_lengths, input_features, audio_frames))
        embeds, attention_mask = self.embed_inputs(input_ids, input_features, audio_frames, audio_lengths, attention_mask)
        if labels is not None:
            labels = labels.masked_fill(input_ids == self.audio_token_id, -100)
        if self.config.interface == "soft_tokens" and "position_ids" not in kwargs:
            # Dropped positions take no position: the LLM reads the compacted sequence, as `generate` numbers it.
            kwargs["position_ids"] = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        return self.language_model(inputs_embeds=embeds, attention_mask=attention_mask, labels=labels, **kwargs)

    def alignment_logits(
        self,
        ctc_vocab: torch.LongTensor,
        audio_lengths: torch.Tensor,
        input_features: torch.Tensor | None = None,
        audio_frames: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Each clip's connector positions scored against the LLM's input embeddings: `[clips, positions, 1 + candidates]`.

        ctc_vocab `[candidates]` sorted LLM token ids scored at every position (every token of the
            transcripts, not the blank): the other 40k+ tokens never need to win, and leaving them out
            makes the scoring several times cheaper.
        Column 0 is the blank, the embedding of `config.alignment_blank`, so the aligned connector speaks
        the LLM's own input vocabulary. Clips are padded to the longest (one 30 s window each); the CTC
        objective on these logits is `voxlm.train.objectives.alignment_ctc_loss`.
        """
        self._require_blank()
        tokens = self.encode_audio(audio_lengths, input_features, audio_frames)
        counts = [num_audio_tokens(int(n), self.config.stack_factor) for n in audio_lengths]
        positions = nn.utils.rnn.pad_sequence(list(tokens.split(counts)), batch_first=True)
        table = self.language_model.get_input_embeddings().weight
        candidates = torch.cat([table[self.blank_token_id][None], table[ctc_vocab]])
        return self._score(positions, candidates)

    @torch.no_grad()
    def generate(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        input_features: torch.Tensor | None = None,
        audio_frames: torch.Tensor | None = None,
        audio_lengths: torch.Tensor | None = None,
        **generate_kwargs,
    ) -> torch.LongTensor:
        """Generate with the LLM from the spliced embeddings; returns only the new tokens `[batch, new]`.

        Audio is encoded once, here; the LLM's own `generate` then decodes with its KV cache (and numbers the
        positions from the attention mask, so the positions soft tokens drop take none).
        Takes every `transformers` generation argument (`max_new_tokens`, `do_sample`, `streamer`, ...).
        """
        embeds, attention_mask = self.embed_inputs(input_ids, input_features, audio_frames, audio_lengths, attention_mask)
        generation_config = self.language_model.generation_config
        if generation_config.pad_token_id is None and "pad_token_id" not in generate_kwargs:
            generate_kwargs["pad_token_id"] = generation_config.eos_token_id
        return self.language_model.generate(inputs_embeds=embeds, attention_mask=attention_mask, **generate_kwargs)

    # ---- checkpoints: only what was trained ------------------------------------------------

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        return {name: p.detach() for name, p in self.named_parameters() if p.requires_grad}

    def save_pretrained(self, save_directory: str | os.PathLike, **_) -> None:
        """Write the config, the decoding defaults (`generation_config.json`, the LLM's, editable like any
        HF checkpoint's) and the trained weights (connector, LoRA) only: megabytes, not the base models."""
        directory = Path(save_directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.config.save_pretrained(directory)
        self.language_model.generation_config.save_pretrained(directory)
        state = {name: t.contiguous().cpu() for name, t in self.trainable_state_dict().items()}
        write_atomic(directory / WEIGHTS_NAME, lambda tmp: save_file(state, tmp, metadata={"format": "pt"}))

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor], grown_from_connector_layers: int | None = None) -> None:
        """Load what a checkpoint trained. Encoder layers it kept frozen, but this model trains, start from the
        pretrained encoder's own weights (a stage may unfreeze encoder layers). With `grown_from_connector_layers`
        (the checkpoint's own `connector_layers`), connector blocks above that many keep their identity start (a
        stage may add capacity to a trained connector). Anything else missing is an error."""
        expected = set(self.trainable_state_dict())
        grown = ()
        if grown_from_connector_layers is not None:
            grown = tuple(f"connector.blocks.{i}." for i in range(grown_from_connector_layers, self.config.connector_layers))
        missing = {k for k in expected - set(state) if not k.startswith(("audio_tower.", *grown))}
        unexpected = set(state) - expected
        if missing or unexpected:
            raise ValueError(
                "checkpoint does not match this VoxLM config: "
                f"missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}"
            )
        self.load_state_dict(state, strict=False)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **config_overrides) -> "VoxLMModel":
        """Rebuild the base models from the asset cache (or their folders) and load the trained weights."""
        directory = Path(pretrained_model_name_or_path)
        if not (directory / WEIGHTS_NAME).is_file():
            raise FileNotFoundError(f"{directory} is not a VoxLM checkpoint (no {WEIGHTS_NAME})")
        config = VoxLMConfig.from_pretrained(directory, **config_overrides)
        model = cls(config)
        grown_from = None
        if "connector_layers" in config_overrides:  # only an explicit override may add blocks the checkpoint lacks
            grown_from = VoxLMConfig.from_pretrained(directory).connector_layers
        model.load_trainable_state_dict(load_file(directory / WEIGHTS_NAME), grown_from_connector_layers=grown_from)
        if (directory / GENERATION_CONFIG_NAME).is_file():  # older checkpoints decode with the LLM's own defaults
            model.language_model.generation_config = GenerationConfig.from_pretrained(directory)
        return model


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
