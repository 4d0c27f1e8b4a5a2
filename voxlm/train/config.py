"""Training configuration: a dataclass with documented defaults, YAML recipes that compose, `key=value` overrides.

A recipe may name others under `defaults:` (paths relative to it); they are merged first, in order,
then the recipe's own keys, then the command line. Unknown keys are errors that list the valid ones.
"""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..model import VoxLMConfig


@dataclass
class TrainConfig:
    """One training run of VoxLM's trainable parts (connector, optional LoRA)."""

    recipe: str = "custom"
    """Name shown in logs and the model card."""
    model: dict = field(default_factory=dict)
    """`VoxLMConfig` keyword arguments for a fresh model (e.g. `text_model`, `stack_factor`, `lora_rank`)."""
    objective: str = "lm"
    """'lm': cross-entropy on target tokens through the LLM (plus KL with `kl_weight`); 'ctc': align the connector
    alone to the transcripts' token embeddings (no LLM pass, several times faster; see train/objectives.py).
    With 'ctc', train_data/eval_data may also name `voxlm synth` folders (every clip with its text)."""
    init_from: str | None = None
    """A VoxLM checkpoint to start from instead of a fresh connector: how recipes chain."""
    train_data: list = field(default_factory=list)
    """Example files (JSONL, see voxlm/data/examples.py) to train on."""
    eval_data: list = field(default_factory=list)
    """Held-out example files for the eval loss."""
    speech_data: list = field(default_factory=list)
    """`voxlm synth` folders holding the clips examples name (searched in order); without any, audio refs are
    files next to the JSONL."""
    hearing_data: list = field(default_factory=list)
    """`voxlm synth` / `voxlm recordings` folders (with `voxlm features` frames) on which every eval measures
    what the connector hears, whatever the objective: the token and word error rate of its greedy CTC
    transcript over the LLM's whole vocabulary, as inference reads it (`VoxLMModel.transcribe_clips`).
    For held-out voices, recordings and text, so a later stage cannot silently undo hearing: nothing in
    them is trained on, and a folder also named in train_data or speech_data is refused."""
    hearing_thresholds: list = field(default_factory=list)
    """More blank thresholds at which `hearing_data` is also decoded and scored (`hearing_word_error_rate@0.3`,
    ...) beside the model's own: the best threshold moves as alignment trains (a connector that grows surer
    of its blanks keeps fewer positions under a fixed cut), so one fixed cut can hide a gain. Decoding only:
    the saved checkpoint keeps its own `blank_threshold`."""
    ctc_negatives: int = 0
    """With 'ctc' (or `ctc_weight`): score each training batch against its own transcripts' tokens plus this many tokens drawn
    afresh every step from the LLM's whole vocabulary, instead of against every token of every training
    transcript (0). Several times cheaper a step once the training text is large, and over many steps every
    token of the vocabulary, not only the transcripts', is pushed below the right one: inference decodes over
    the whole vocabulary. Eval and hearing always score the full candidate set / vocabulary."""
    ctc_weight: float = 0.0
    """With 'lm': add this weight times the alignment CTC loss of every example's clips against their own
    transcripts (the `text` of audio parts, InSerter speech spans) to the LM loss, so the LM stages keep teaching
    the connector to spell what it hears instead of wearing its hearing down (the default chain's imitate stage
    did: see docs/default-scale). Candidates: the batch's transcript tokens, plus `ctc_negatives` drawn ones.
    Clips longer than one 30 s window are not scored."""
    cached_features: bool = True
    """Read encoder frames cached by `voxlm features` (fast) instead of encoding the clips every step."""
    output_dir: str = "runs/custom"
    seed: int = 0
    batch_size: int = 4
    grad_accum: int = 1
    """Micro-batches per optimizer step."""
    learning_rate: float = 1e-3
    encoder_learning_rate: float | None = None
    """Learning rate of the Whisper encoder layers that train (`model.encoder_trainable_layers`); None: learning_rate.
    They start pretrained, so they usually want a smaller step than the fresh connector."""
    weight_decay: float = 0.0
    warmup_steps: int = 50
    lr_schedule: str = "cosine"
    """'cosine' or 'constant' (after warmup)."""
    max_steps: int = 1000
    """Optimizer steps."""
    max_grad_norm: float = 1.0
    eval_every: int = 100
    eval_batches: int = 16
    save_every: int = 100
    keep_checkpoints: int = 2
    log_every: int = 10
    kl_weight: float = 0.0
    """Weight of KL(teacher || student) on the target tokens; the teacher is the same LLM reading the transcript."""
    kl_temperature: float = 1.0
    max_target_tokens: int = 128
    """Targets are cut to this many tokens (keeps CPU steps short)."""
    num_workers: int = 0
    mixed_precision: str = "no"
    """'no', 'bf16' or 'fp16' (GPU); passed to accelerate."""

    def __post_init__(self) -> None:
        unknown = set(self.model) - set(_MODEL_KEYS)
        if unknown:
            raise ValueError(f"unknown model keys {sorted(unknown)}; valid: {sorted(_MODEL_KEYS)}")
        if self.objective not in ("lm", "ctc"):
            raise ValueError(f"objective must be 'lm' or 'ctc', got {self.objective!r}")
        if self.objective == "ctc" and (self.kl_weight or not self.cached_features):
            raise ValueError("objective 'ctc' reads cached encoder frames and has no KL term: "
                             "set cached_features=true and kl_weight=0")
        if self.ctc_weight < 0 or (self.ctc_weight and self.objective != "lm"):
            raise ValueError(f"ctc_weight must be >= 0 and needs objective 'lm' (objective 'ctc' is all CTC), "
                             f"got {self.ctc_weight}")
        if self.ctc_negatives < 0 or (self.ctc_negatives and self.objective != "ctc" and not self.ctc_weight):
            raise ValueError(f"ctc_negatives must be >= 0 and needs objective 'ctc' or ctc_weight > 0, "
                             f"got {self.ctc_negatives}")
        if any(not 0 < float(t) < 1 for t in self.hearing_thresholds):
            raise ValueError(f"hearing_thresholds must lie strictly between 0 and 1, got {self.hearing_thresholds}")
        self.hearing_thresholds = [float(t) for t in self.hearing_thresholds]
        if self.lr_schedule not in ("cosine", "constant"):
            raise ValueError(f"lr_schedule must be 'cosine' or 'constant', got {self.lr_schedule!r}")
        for name in ("train_data", "eval_data", "speech_data", "hearing_data"):
            if isinstance(getattr(self, name), str):
                setattr(self, name, [getattr(self, name)])
        trained = {Path(p).resolve() for p in self.train_data + self.speech_data}
        overlap = [p for p in self.hearing_data if Path(p).resolve() in trained]
        if overlap:
            raise ValueError(f"hearing_data {overlap} also in train_data/speech_data: hearing is measured on speech "
                             "that is never trained on")


_MODEL_KEYS = sorted(p for p in inspect.signature(VoxLMConfig.__init__).parameters if p not in ("self", "kwargs"))
VALID_KEYS = [f.name for f in dataclasses.fields(TrainConfig)]


def _merge(base: dict, update: dict) -> dict:
    merged = dict(base)
    for key, value in update.items():
        merged[key] = _merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged


def _resolve(data: dict, folder: Path) -> dict:
    """Merge a mapping over its `defaults:` (recipe files relative to `folder`, earlier first)."""
    merged: dict = {}
    for parent in data.pop("defaults", []) or []:
        merged = _merge(merged, read_recipe(folder / parent))
    return _merge(merged, data)


def _yaml_file(path: Path) -> Any:
    """A YAML file's data; malformed YAML or text that is not UTF-8 is one line naming the file and the spot."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not UTF-8 text (byte {error.start}); save the recipe as UTF-8") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ValueError(f"{path}: not valid YAML{where}: {problem}") from None


def read_recipe(path: str | Path) -> dict:
    """A recipe file with its `defaults:` chain merged in (earlier first, the file itself last)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"recipe {path} not found (recipes live in recipes/*.yaml)")
    data = _yaml_file(path) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a recipe is a mapping of keys to values")
    return _resolve(data, path.parent)


def read_stages(path: str | Path) -> list[dict] | None:
    """The stages of a chained recipe (`stages:` of recipe files or inline mappings), or None for a plain recipe."""
    path = Path(path)
    data = _yaml_file(path) if path.is_file() else None
    if not isinstance(data, dict) or "stages" not in data:
        return None
    return [read_recipe(path.parent / s) if isinstance(s, str) else _resolve(dict(s), path.parent) for s in data["stages"]]


def parse_override(text: str) -> tuple[list[str], Any]:
    """`model.lora_rank=8` -> (['model', 'lora_rank'], 8); values are parsed as YAML scalars/lists."""
    if "=" not in text:
        raise ValueError(f"override {text!r} is not key=value")
    key, _, raw = text.partition("=")
    try:
        return key.strip().split("."), yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        raise ValueError(f"override {text!r}: the value is not valid YAML (a list is [1, 2], a mapping {{a: 1}})") from None


def load_config(recipe: str | Path | dict | None = None, overrides: list[str] = ()) -> TrainConfig:
    """Recipe (a file or an already-read mapping) + overrides -> validated TrainConfig; unknown keys raise naming the valid ones."""
    data = dict(recipe) if isinstance(recipe, dict) else read_recipe(recipe) if recipe else {}
    for override in overrides:
        keys, value = parse_override(override)
        target = data
        for key in keys[:-1]:
            target = target.setdefault(key, {})
        target[keys[-1]] = value
    unknown = set(data) - set(VALID_KEYS)
    if unknown:
        raise ValueError(f"unknown recipe keys {sorted(unknown)}; valid keys: {', '.join(VALID_KEYS)}")
    return TrainConfig(**data)


def config_dict(config: TrainConfig) -> dict:
    return dataclasses.asdict(config)
