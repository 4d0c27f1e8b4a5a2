"""`VoxLMProcessor`: raw audio + text with `<|audio|>` placeholders -> model inputs.

Each placeholder is expanded to exactly as many positions as its audio yields after the encoder
(50 frames/s) and the connector (`stack_factor` frames per position), so the model can splice the
audio embeddings in place. Audio longer than Whisper's 30 s window is split into consecutive
windows that fill one placeholder together. Log-mels cover each window's real length only (the
encoder runs on that length, not on a 30 s pad: see `run_encoder`).

The window arithmetic lives here and only here (the dataset readers, `voxlm features` and the
InSerter inputs import it): `WINDOW_SECONDS`, `WINDOW_SAMPLES`, `SAMPLES_PER_FRAME`,
`FRAMES_PER_SECOND`, `WINDOW_FRAMES`; `clip_frames` / `encoder_frames` (samples -> frames),
`window_frames` (a clip's frames per window), `split_windows` (a frames matrix -> per-window matrices).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from transformers import AutoTokenizer, BatchFeature, WhisperFeatureExtractor

from ..assets import resolve_model_path
from ..audio.io import SAMPLING_RATE, AudioError, AudioSource, load_audio
from .configuration_voxlm import VoxLMConfig
from .connector import num_audio_tokens

WINDOW_SECONDS = 30
WINDOW_SAMPLES = WINDOW_SECONDS * SAMPLING_RATE  # 480_000
SAMPLES_PER_FRAME = 320  # 10 ms mel hop x conv stride 2: one Whisper encoder frame per 20 ms
FRAMES_PER_SECOND = SAMPLING_RATE // SAMPLES_PER_FRAME  # 50
WINDOW_FRAMES = WINDOW_SAMPLES // SAMPLES_PER_FRAME  # 1500


def clip_frames(num_samples: int) -> int:
    """Encoder frames of a whole clip of this many 16 kHz samples, over all its 30 s windows."""
    return math.ceil(num_samples / SAMPLES_PER_FRAME)


def encoder_frames(num_samples: int) -> int:
    """Encoder frames that carry this many 16 kHz samples (at most one 30 s window's 1500)."""
    return min(clip_frames(num_samples), WINDOW_FRAMES)


def log_mel(feature_extractor: WhisperFeatureExtractor, windows: Sequence[np.ndarray]) -> np.ndarray:
    """Whisper log-mels of windows (16 kHz, at most 30 s each) -> `[windows, mel_bins, 2 * longest frames + 2]`.

    Each window is padded with one encoder frame of silence past its last whole frame (its last mel
    columns then see what they see inside a silence-padded 30 s window) and to the longest window;
    window i's own columns are the first `2 * encoder_frames(len(window i))`. The one mel computation
    for the processor, the dataset readers and `voxlm features`, so cached frames equal computed ones.
    """
    longest = max((w.size for w in windows), default=0)
    if longest > WINDOW_SAMPLES:
        raise ValueError(f"a window holds at most {WINDOW_SECONDS} s of audio, got {longest / SAMPLING_RATE:.1f} s: "
                         "split clips with VoxLMProcessor.windows first")
    padded = [np.pad(w, (0, (encoder_frames(w.size) + 1) * SAMPLES_PER_FRAME - w.size)) for w in windows]
    return feature_extractor(padded, sampling_rate=SAMPLING_RATE, return_tensors="np", padding="longest").input_features


def window_frames(total_frames: int) -> list[int]:
    """Real encoder frames of each 30 s window of a clip with `total_frames` frames in all."""
    full, rest = divmod(total_frames, WINDOW_FRAMES)
    return [WINDOW_FRAMES] * full + ([rest] if rest else [])


def split_windows(frames: np.ndarray) -> list[np.ndarray]:
    """A clip's frames `[frames, dim]` (its windows' frames concatenated) -> one `[<=1500, dim]` matrix per window.

    Every window but the last holds exactly `WINDOW_FRAMES`, so the cut is where the encoder's was
    (as `window_frames` counts them, and `VoxLMProcessor.windows` cuts the wave: no frames, no window).
    """
    return [frames[i : i + WINDOW_FRAMES] for i in range(0, len(frames), WINDOW_FRAMES)]


class VoxLMProcessor:
    """Feature extractor + tokenizer + placeholder expansion, in the shape of an HF processor.

    `processor(text=..., audio=...)` -> `BatchFeature` with `input_ids`, `attention_mask`, and when audio is
    given `input_features [windows, mel_bins, 2 * longest window's frames + 2]` (`log_mel`) and `audio_lengths
    [windows]` (real encoder frames of each window).
    """

    def __init__(self, feature_extractor: WhisperFeatureExtractor, tokenizer, config: VoxLMConfig):
        self.feature_extractor = feature_extractor
        self.tokenizer = tokenizer
        self.audio_token = config.audio_token
        self.stack_factor = config.stack_factor
        self.max_audio_seconds = config.max_audio_seconds
        if self.audio_token not in tokenizer.get_vocab():
            tokenizer.add_special_tokens({"additional_special_tokens": [self.audio_token]})
        self.audio_token_id = tokenizer.convert_tokens_to_ids(self.audio_token)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token

    @classmethod
    def from_config(cls, config: VoxLMConfig, tokenizer=None) -> "VoxLMProcessor":
        """Build from the base models' own files (a checkpoint stores no tokenizer copy)."""
        if tokenizer is None:
            if config.text_model is None:
                raise ValueError("config.text_model is None (a random LLM): pass a tokenizer explicitly")
            tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(config.text_model))
        if config.audio_model is not None:
            feature_extractor = WhisperFeatureExtractor.from_pretrained(resolve_model_path(config.audio_model))
        else:
            feature_extractor = WhisperFeatureExtractor(feature_size=config.audio_config.get("num_mel_bins", 80))
        return cls(feature_extractor, tokenizer, config)

    @classmethod
    def from_pretrained(cls, path: str | Path) -> "VoxLMProcessor":
        return cls.from_config(VoxLMConfig.from_pretrained(path))

    # ---- audio ---------------------------------------------------------------------------

    def load(self, audio: AudioSource, sampling_rate: int | None = None) -> np.ndarray:
        """Any accepted audio -> 16 kHz mono float32, checked against `max_audio_seconds`."""
        wave = load_audio(audio, sampling_rate)
        seconds = wave.size / SAMPLING_RATE
        if seconds > self.max_audio_seconds:
            raise AudioError(
                f"audio is {seconds:.1f} s long; the limit is {self.max_audio_seconds:.0f} s per clip "
                "(raise max_audio_seconds in the model config, or split the file)"
            )
        return wave

    @staticmethod
    def windows(wave: np.ndarray) -> list[np.ndarray]:
        return [wave[i : i + WINDOW_SAMPLES] for i in range(0, wave.size, WINDOW_SAMPLES)]

    def audio_token_count(self, wave: np.ndarray) -> int:
        return self.frames_token_count(clip_frames(wave.size))

    def frames_token_count(self, total_frames: int) -> int:
        """Positions a clip of `total_frames` encoder frames fills: each 30 s window is stacked on its own."""
        return sum(num_audio_tokens(n, self.stack_factor) for n in window_frames(total_frames))

    # ---- text + audio ----------------------------------------------------------------------

    def __call__(
        self,
        text: str | Sequence[str],
        audio: AudioSource | Sequence[AudioSource] | None = None,
        sampling_rate: int | None = None,
        text_target: str | Sequence[str] | None = None,
        return_tensors: str = "pt",
        padding: bool | str = True,
    ) -> BatchFeature:
        """Tokenize `text` (one or a batch), expanding each `<|audio|>` with the next clip of `audio`.

        `audio` lists the clips in placeholder order across the whole batch. With `text_target`, the
        target is appended to each text (plus EOS) and `labels` are returned: -100 on the prompt and
        the audio, the target token ids elsewhere.
        """
        texts = [text] if isinstance(text, str) else list(text)
        if audio is None:
            clips = []
        elif isinstance(audio, (str, bytes, Path)) or (isinstance(audio, np.ndarray) and audio.ndim == 1):
            clips = [audio]
        else:
            clips = list(audio)
        n_placeholders = sum(t.count(self.audio_token) for t in texts)
        if n_placeholders != len(clips):
            raise ValueError(f"text has {n_placeholders} '{self.audio_token}' placeholders but {len(clips)} audio clips were given")

        waves = [self.load(clip, sampling_rate) for clip in clips]
        batch = self.encode_text(texts, [self.audio_token_count(w) for w in waves], text_target, padding, return_tensors)
        if waves:
            windows = [w for wave in waves for w in self.windows(wave)]
            batch["input_features"] = torch.from_numpy(log_mel(self.feature_extractor, windows))
            batch["audio_lengths"] = torch.tensor([encoder_frames(w.size) for w in windows])
        return BatchFeature(batch)

    def encode_text(
        self,
        texts: list[str],
        token_counts: list[int],
        text_target: str | Sequence[str] | None = None,
        padding: bool | str = True,
        return_tensors: str = "pt",
    ) -> dict:
        """Tokenize texts whose placeholders stand for clips of `token_counts` positions (in order)."""
        counts = iter(token_counts)
        expanded = []
        for t in texts:
            pieces = t.split(self.audio_token)
            expanded.append(pieces[0] + "".join(self.audio_token * next(counts) + piece for piece in pieces[1:]))
        if text_target is not None:
            targets = [text_target] if isinstance(text_target, str) else list(text_target)
            return self._with_targets(expanded, targets)
        return dict(self.tokenizer(expanded, add_special_tokens=False, padding=padding, return_tensors=return_tensors))

    def _with_targets(self, prompts: list[str], targets: list[str]) -> dict:
        """Right-padded prompt+target ids with labels on the target tokens (and the closing EOS) only."""
        if len(prompts) != len(targets):
            raise ValueError(f"{len(prompts)} texts but {len(targets)} targets")
        rows, labels = [], []
        for prompt, target in zip(prompts, targets):
            p = self.tokenizer(prompt, add_special_tokens=False).input_ids
            t = self.tokenizer(target, add_special_tokens=False).input_ids + [self.tokenizer.eos_token_id]
            rows.append(p + t)
            labels.append([-100] * len(p) + t)
        width = max(map(len, rows))
        pad = self.tokenizer.pad_token_id
        return {
            "input_ids": torch.tensor([r + [pad] * (width - len(r)) for r in rows]),
            "attention_mask": torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows]),
            "labels": torch.tensor([lab + [-100] * (width - len(lab)) for lab in labels]),
        }

    # ---- chat ------------------------------------------------------------------------------

    def apply_chat_template(self, conversation: list[dict], add_generation_prompt: bool = True) -> tuple[str, list]:
        """OpenAI/HF-style messages -> (prompt text with placeholders, audio clips in order).

        A message's `content` is a string or a list of parts: `{"type": "text", "text": ...}` or
        `{"type": "audio", "audio": <path | bytes | array>}` (arrays must already be 16 kHz).
        """
        messages, clips = [], []
        for message in conversation:
            content = message["content"]
            if not isinstance(content, str):
                parts = []
                for part in content:
                    if part["type"] == "text":
                        parts.append(part["text"])
                    elif part["type"] == "audio":
                        parts.append(self.audio_token)
                        clips.append(part["audio"])
                    else:
                        raise ValueError(f"unsupported content part type {part['type']!r} (use 'text' or 'audio')")
                content = "\n".join(parts)
            messages.append({"role": message["role"], "content": content})
        prompt = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
        return prompt, clips

    def batch_decode(self, token_ids, skip_special_tokens: bool = True) -> list[str]:
        return self.tokenizer.batch_decode(token_ids, skip_special_tokens=skip_special_tokens)
