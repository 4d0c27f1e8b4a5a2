"""The one trainer: CPU, one GPU, or `accelerate launch` (DDP) over many, with exact resume.

What trains is whatever requires grad in `VoxLMModel` (the connector, plus LoRA if configured).
Loss: cross-entropy on target tokens, optionally plus KL to the frozen LLM reading the transcript
(Ultravox-style distillation); or, with `objective: ctc`, the connector's CTC alignment to the
transcripts' token embeddings (both objectives beside cross-entropy are in `objectives.py`). A checkpoint holds the trained
weights, optimizer, scheduler, RNG states and the data position, written to a temporary folder
and renamed into place; `resume` continues from the newest complete one and reproduces an
uninterrupted run.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..data.transcripts import TranscriptCollator, TranscriptDataset, edit_distance, greedy_ctc_tokens
from ..files import write_json_atomic, write_text_atomic
from ..model import VoxLMConfig, VoxLMModel, VoxLMProcessor
from ..model.configuration_voxlm import INTERFACE_SETTINGS
from ..model.modeling_voxlm import WEIGHTS_NAME
from .config import TrainConfig, config_dict
from .objectives import alignment_ctc_loss, distillation_loss, sampled_ctc_vocab

STATE_NAME = "trainer_state.pt"
MODEL_INPUTS = ("input_ids", "attention_mask", "labels", "input_features", "audio_frames", "audio_lengths", "ctc_vocab")


class EpochSampler(torch.utils.data.Sampler):
    """A fresh seeded permutation per epoch, so the data order is a pure function of (seed, epoch)."""

    def __init__(self, size: int, seed: int):
        self.size, self.seed, self.epoch = size, seed, 0

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.size, generator=generator).tolist())

    def __len__(self) -> int:
        return self.size


@dataclass
class Position:
    """Where training stands: optimizer steps done, and micro-batches consumed in the current epoch."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0


def build_model(config: TrainConfig) -> tuple[VoxLMModel, VoxLMProcessor]:
    if config.init_from:
        # A stage may change how audio enters the LLM (e.g. LM stages through soft tokens after a CTC stage), let
        # encoder layers train that the checkpoint kept frozen, and add connector blocks (they start as the
        # identity); never the shapes of what was trained.
        growth = ("encoder_trainable_layers", "connector_layers")
        usage = {k: v for k, v in config.model.items() if k in INTERFACE_SETTINGS or k in growth}
        model = VoxLMModel.from_pretrained(config.init_from, **usage)
        unexpected = {k: v for k, v in config.model.items() if getattr(model.config, k) != v}
        if unexpected:
            raise ValueError(f"model settings {unexpected} differ from the init_from checkpoint {config.init_from}")
    else:
        model = VoxLMModel(VoxLMConfig(**config.model))
    processor = VoxLMProcessor.from_config(model.config)
    model.bind_tokenizer(processor.tokenizer)
    return model, processor


def lr_lambda(config: TrainConfig) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        if config.lr_schedule == "constant":
            return 1.0
        progress = (step - config.warmup_steps) / max(1, config.max_steps - config.warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


class Trainer:
    """Runs `config` on `train_set` (items collated by `collate` into `VoxLMModel.forward` kwargs)."""

    def __init__(self, config: TrainConfig, model: VoxLMModel, processor: VoxLMProcessor,
                 train_set: Dataset, eval_set: Dataset | None, collate: Callable, log=print,
                 hearing_set: TranscriptDataset | None = None):
        from accelerate import Accelerator

        self.config, self.processor, self.log = config, processor, log
        self.output_dir = Path(config.output_dir)
        self.accelerator = Accelerator(
            mixed_precision=config.mixed_precision, log_with="tensorboard", project_dir=str(self.output_dir)
        )
        self.train_set, self.eval_set, self.collate = train_set, eval_set, collate
        self.hearing_set = hearing_set
        self.sampler = EpochSampler(len(train_set), config.seed)
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise ValueError("nothing to train: the model has no trainable parameters")
        encoder = {id(p) for p in model.audio_tower.parameters() if p.requires_grad}
        groups = [{"params": [p for p in params if id(p) not in encoder]}]
        if encoder:
            lr = config.learning_rate if config.encoder_learning_rate is None else config.encoder_learning_rate
            groups.append({"params": [p for p in params if id(p) in encoder], "lr": lr})
        optimizer = torch.optim.AdamW(groups, lr=config.learning_rate, weight_decay=config.weight_decay)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(config))
        self.model, self.optimizer, self.scheduler = self.accelerator.prepare(model, optimizer, scheduler)
        self.params = params
        self.position = Position()
        self.stop_requested = False

    # ---- data ------------------------------------------------------------------------------

    def _loader(self, dataset: Dataset, sampler=None, shuffle=False) -> DataLoader:
        return DataLoader(dataset, batch_size=self.config.batch_size, sampler=sampler, shuffle=shuffle,
                          collate_fn=self.collate, num_workers=self.config.num_workers)

    def _batches(self) -> Iterator[dict]:
        """Endless micro-batches in (seed, epoch) order, starting at the saved position."""
        while True:
            self.sampler.epoch = self.position.epoch
            loader = self.accelerator.prepare_data_loader(self._loader(self.train_set, self.sampler))
            skip = self.position.batch_in_epoch
            for index, batch in enumerate(loader):
                if index < skip:  # resume: these were consumed before the checkpoint
                    continue
                self.position.batch_in_epoch = index + 1
                yield batch
            self.position.epoch += 1
            self.position.batch_in_epoch = 0

    # ---- one step --------------------------------------------------------------------------

    def _objective(self, batch: dict):
        """(model output, its loss under the configured objective) for one micro-batch."""
        if self.config.objective == "ctc":
            return self._alignment(batch)
        # ctc_vocab, when the batch has one, is for `_alignment`: with input_ids the model would ignore it.
        out = self.model(**{k: batch[k] for k in MODEL_INPUTS if k in batch and k != "ctc_vocab"})
        return out, out.loss

    def _alignment(self, batch: dict):
        """(alignment logits, CTC loss) of the batch's audio windows against `ctc_labels` (no LLM pass)."""
        vocab = batch["ctc_vocab"] if "ctc_vocab" in batch else torch.unique(batch["ctc_labels"][batch["ctc_labels"] != -100])
        inputs = {k: batch[k] for k in ("audio_frames", "input_features") if k in batch}
        out = self.model(ctc_vocab=vocab, audio_lengths=batch["audio_lengths"], **inputs)
        stack_factor = self.accelerator.unwrap_model(self.model).config.stack_factor
        return out, alignment_ctc_loss(out.logits, batch["audio_lengths"], stack_factor, batch["ctc_labels"], vocab)

    def _loss(self, batch: dict) -> tuple[torch.Tensor, dict]:
        out, loss = self._objective(batch)
        metrics = {"ce" if self.config.objective == "lm" else "ctc": loss.detach().item()}
        if self.config.ctc_weight > 0:
            scored = batch["ctc_scored"]
            if bool(scored.any()):  # the LM stage keeps the connector spelling what it hears
                windows = {k: batch[k][scored] for k in ("audio_frames", "input_features", "audio_lengths", "ctc_labels")
                           if k in batch}
                if "ctc_vocab" in batch:  # drawn for this step (`ctc_negatives`)
                    windows["ctc_vocab"] = batch["ctc_vocab"]
                _, ctc = self._alignment(windows)
                loss = loss + self.config.ctc_weight * ctc
                metrics["ctc"] = ctc.detach().item()
        if self.config.kl_weight > 0:
            if "teacher_input_ids" not in batch:
                raise ValueError("kl_weight > 0 needs examples with a transcript (teacher inputs)")
            kl = distillation_loss(self.accelerator.unwrap_model(self.model), out.logits, batch, self.config.kl_temperature)
            loss = loss + self.config.kl_weight * kl
            metrics["kl"] = kl.detach().item()
        return loss, metrics

    def train_step(self, batches: Iterator[dict]) -> dict:
        self.model.train()
        totals: dict[str, float] = {}
        for micro in range(self.config.grad_accum):
            batch = next(batches)
            if self.config.ctc_negatives:
                batch = {**batch, "ctc_vocab": self._sampled_vocab(batch["ctc_labels"], micro)}
            sync = micro == self.config.grad_accum - 1
            with contextlib.nullcontext() if sync else self.accelerator.no_sync(self.model):
                loss, metrics = self._loss(batch)
                self.accelerator.backward(loss / self.config.grad_accum)
            for key, value in metrics.items():
                totals[key] = totals.get(key, 0.0) + value / self.config.grad_accum
        grad_norm = self.accelerator.clip_grad_norm_(self.params, self.config.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.position.step += 1
        totals["grad_norm"] = float(grad_norm)
        totals["lr"] = self.scheduler.get_last_lr()[0]
        return totals

    def _sampled_vocab(self, ctc_labels: torch.Tensor, micro: int) -> torch.Tensor:
        """`ctc_negatives` candidates for this micro-batch, drawn from (seed, step, micro) so a resumed run draws
        the same ones."""
        model = self.accelerator.unwrap_model(self.model)
        entropy = [self.config.seed, self.position.step, micro, self.accelerator.process_index]
        generator = torch.Generator().manual_seed(int(np.random.SeedSequence(entropy).generate_state(1)[0]))
        vocab = sampled_ctc_vocab(ctc_labels.cpu(), model.language_model.get_input_embeddings().num_embeddings,
                                  self.config.ctc_negatives, model.blank_token_id, generator)
        return vocab.to(ctc_labels.device)

    @torch.no_grad()
    def evaluate(self) -> dict:
        """Mean loss over the first `eval_batches` held-out batches (fixed order), for alignment also the token
        error rate of greedy CTC decoding against the transcripts; and what the connector hears (`hearing`)."""
        return {**self._eval_loss(), **self.hearing()}

    def _eval_loss(self) -> dict:
        if self.eval_set is None or len(self.eval_set) == 0:
            return {}
        self.model.eval()
        losses, errors, reference_tokens = [], 0, 0
        loader = self.accelerator.prepare_data_loader(self._loader(self.eval_set))
        stack_factor = self.accelerator.unwrap_model(self.model).config.stack_factor
        for index, batch in enumerate(loader):
            if index >= self.config.eval_batches:
                break
            out, loss = self._objective(batch)
            losses.append(self.accelerator.gather(loss.detach()).mean().item())
            if self.config.objective == "ctc":
                # Over the run's candidate tokens only (the logits alignment trains): `hearing` scores the whole vocabulary.
                decoded = greedy_ctc_tokens(out.logits, batch["audio_lengths"], batch["ctc_vocab"], stack_factor)
                for hypothesis, labels in zip(decoded, batch["ctc_labels"]):
                    reference = labels[labels != -100].tolist()
                    errors += edit_distance(hypothesis, reference)
                    reference_tokens += len(reference)
        result = {"eval_loss": float(np.mean(losses))}
        if self.config.objective == "ctc":
            counts = self.accelerator.reduce(torch.tensor([errors, reference_tokens], device=self.accelerator.device), "sum")
            result["eval_token_error_rate"] = counts[0].item() / max(1, counts[1].item())
        return result

    @torch.no_grad()
    def hearing(self) -> dict:
        """Token and word error rate of the connector's own transcript of every `hearing_data` clip, decoded over
        the LLM's whole vocabulary at the model's blank threshold (`VoxLMModel.transcribe_clips`), as the
        soft-token interface reads speech at inference; and at each of `hearing_thresholds` (keys suffixed
        `@threshold`). Every process scores the whole (small) set alike."""
        if self.hearing_set is None or len(self.hearing_set) == 0:
            return {}
        from ..eval.metrics import corpus_wer

        model = self.accelerator.unwrap_model(self.model)
        model.eval()
        tokenizer = self.processor.tokenizer
        loader = DataLoader(self.hearing_set, batch_size=self.config.batch_size,
                            collate_fn=TranscriptCollator(self.hearing_set.vocab))
        suffixes = {None: "", **{t: f"@{t:g}" for t in self.config.hearing_thresholds}}
        errors = dict.fromkeys(suffixes, 0)
        hypotheses = {t: [] for t in suffixes}
        tokens, references = 0, []
        for batch in loader:
            frames = batch["audio_frames"].to(self.accelerator.device)
            labels = [row[row != -100].tolist() for row in batch["ctc_labels"]]
            tokens += sum(map(len, labels))
            references += [tokenizer.decode(reference).strip() for reference in labels]
            for threshold in suffixes:
                heard = model.transcribe_clips(batch["audio_lengths"], audio_frames=frames, blank_threshold=threshold)
                for hypothesis, reference in zip(heard, labels):
                    errors[threshold] += edit_distance(hypothesis, reference)
                    hypotheses[threshold].append(tokenizer.decode(hypothesis).strip())
        result = {}
        for threshold, suffix in suffixes.items():
            result[f"hearing_token_error_rate{suffix}"] = errors[threshold] / max(1, tokens)
            result[f"hearing_word_error_rate{suffix}"] = corpus_wer(references, hypotheses[threshold])
        return result

    # ---- checkpoints -----------------------------------------------------------------------

    def checkpoint_dirs(self) -> list[Path]:
        root = self.output_dir / "checkpoints"
        return sorted(p for p in root.glob("step-*") if (p / STATE_NAME).is_file()) if root.is_dir() else []

    def save_checkpoint(self) -> Path:
        """Trained weights + optimizer + scheduler + RNG + data position, atomically (temp folder, rename)."""
        final = self.output_dir / "checkpoints" / f"step-{self.position.step:07d}"
        if self.accelerator.is_main_process:
            partial = final.with_name(final.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            self.accelerator.unwrap_model(self.model).save_pretrained(partial)
            torch.save({
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "position": vars(self.position).copy(),
                "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate(),
                        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None},
                "config": config_dict(self.config),
            }, partial / STATE_NAME)
            shutil.rmtree(final, ignore_errors=True)
            partial.rename(final)
            for old in self.checkpoint_dirs()[: -self.config.keep_checkpoints]:
                shutil.rmtree(old, ignore_errors=True)
        self.accelerator.wait_for_everyone()
        return final

    def load_checkpoint(self, directory: Path) -> None:
        from safetensors.torch import load_file

        state = torch.load(directory / STATE_NAME, weights_only=False)
        saved = state["config"]
        for key in ("model", "init_from", "batch_size", "grad_accum", "seed", "train_data"):
            if saved.get(key) != config_dict(self.config).get(key):
                raise ValueError(
                    f"cannot resume from {directory}: it was trained with {key}={saved.get(key)!r}, this run has "
                    f"{key}={config_dict(self.config).get(key)!r}; use a new output_dir or the same settings"
                )
        self.accelerator.unwrap_model(self.model).load_trainable_state_dict(load_file(directory / WEIGHTS_NAME))
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.position = Position(**state["position"])
        torch.set_rng_state(state["rng"]["torch"])
        np.random.set_state(state["rng"]["numpy"])
        random.setstate(state["rng"]["python"])
        if state["rng"]["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])

    # ---- the loop --------------------------------------------------------------------------

    def fit(self, resume: bool = False) -> Path:
        """Train to `max_steps`; returns the folder of the final model (trained weights + config + card)."""
        from tqdm.auto import tqdm

        config = self.config
        self.output_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.output_dir / "train_config.json", config_dict(config), indent=2)
        if resume and self.checkpoint_dirs():
            latest = self.checkpoint_dirs()[-1]
            self.load_checkpoint(latest)
            self.log(f"resumed from {latest} at step {self.position.step}")
        self.accelerator.init_trackers("tensorboard")
        metrics_file = self.output_dir / "metrics.jsonl"
        previous = signal.signal(signal.SIGTERM, self._request_stop)
        history = []
        try:
            if self.position.step == 0:
                history.append(self._record(metrics_file, {"step": 0, **self.evaluate()}))
            batches = self._batches()
            progress = tqdm(total=config.max_steps, initial=self.position.step, desc=config.recipe, unit="step",
                            disable=not self.accelerator.is_main_process)
            window, window_start = [], time.perf_counter()
            while self.position.step < config.max_steps and not self.stop_requested:
                metrics = self.train_step(batches)
                window.append(metrics)
                progress.update(1)
                progress.set_postfix(loss=f"{next(iter(metrics.values())):.3f}")
                step = self.position.step
                if step % config.log_every == 0 or step == config.max_steps:
                    elapsed = time.perf_counter() - window_start
                    summary = {k: float(np.mean([m[k] for m in window])) for k in window[0]}
                    summary.update(step=step, samples_per_s=len(window) * config.batch_size * config.grad_accum
                                   * self.accelerator.num_processes / elapsed, seconds_per_step=elapsed / len(window))
                    history.append(self._record(metrics_file, summary))
                    window, window_start = [], time.perf_counter()
                if step % config.eval_every == 0 or step == config.max_steps:
                    history.append(self._record(metrics_file, {"step": step, **self.evaluate()}))
                if step % config.save_every == 0 or step == config.max_steps:
                    self.save_checkpoint()
            progress.close()
            if self.stop_requested:
                self.save_checkpoint()
                self.log(f"stopped by SIGTERM at step {self.position.step}; checkpoint saved, rerun with --resume")
        finally:
            signal.signal(signal.SIGTERM, previous)
            self.accelerator.end_training()
        final = self.output_dir / "final"
        if self.position.step >= config.max_steps and self.accelerator.is_main_process:
            self.accelerator.unwrap_model(self.model).save_pretrained(final)
            write_model_card(final, config, metrics_file)
        return final

    def _request_stop(self, *_):
        self.stop_requested = True

    def _record(self, path: Path, entry: dict) -> dict:
        entry = {k: v for k, v in entry.items() if v is not None}
        if self.accelerator.is_main_process:
            with path.open("a") as f:
                f.write(json.dumps(entry) + "\n")
            self.accelerator.log({k: v for k, v in entry.items() if k != "step"}, step=entry["step"])
            if "eval_loss" in entry:
                rate = entry.get("eval_token_error_rate")
                self.log(f"step {entry['step']}: eval loss {entry['eval_loss']:.4f}"
                         + (f", token error rate {rate:.3f}" if rate is not None else ""))
            if "hearing_token_error_rate" in entry:
                self.log(f"step {entry['step']}: hearing: token error rate {entry['hearing_token_error_rate']:.3f}, "
                         f"word error rate {entry['hearing_word_error_rate']:.3f}")
                for threshold in self.config.hearing_thresholds:
                    suffix = f"@{threshold:g}"
                    self.log(f"step {entry['step']}:   at blank threshold {threshold:g}: token error rate "
                             f"{entry['hearing_token_error_rate' + suffix]:.3f}, "
                             f"word error rate {entry['hearing_word_error_rate' + suffix]:.3f}")
        return entry


def write_model_card(directory: Path, config: TrainConfig, metrics_file: Path) -> None:
    """README.md next to the weights: what was trained, on what, for how long, and the held-out loss curve."""
    entries = [json.loads(line) for line in metrics_file.read_text().splitlines()] if metrics_file.is_file() else []
    evals = [e for e in entries if "eval_loss" in e or "hearing_token_error_rate" in e]
    columns = [("eval_loss", "held-out loss", "{:.4f}"),
               ("eval_token_error_rate", "held-out token error rate (greedy CTC)", "{:.3f}"),
               ("hearing_token_error_rate", "hearing: token error rate", "{:.3f}"),
               ("hearing_word_error_rate", "hearing: word error rate", "{:.3f}"),
               *[(f"hearing_word_error_rate@{t:g}", f"hearing: word error rate at blank threshold {t:g}", "{:.3f}")
                 for t in config.hearing_thresholds]]
    columns = [c for c in columns if any(c[0] in e for e in evals)]
    train = [e for e in entries if "seconds_per_step" in e]
    seconds = sum(e["seconds_per_step"] * config.log_every for e in train)
    lines = [
        f"# VoxLM checkpoint: {config.recipe}",
        "",
        f"Trained with `voxlm train` ({'from ' + config.init_from if config.init_from else 'fresh connector'}).",
        "",
        f"- base models: {json.dumps(config.model)}",
        f"- data: {', '.join(config.train_data)} (held out: {', '.join(config.eval_data) or 'none'})",
        *([f"- hearing (the connector's own transcript over the whole vocabulary): {', '.join(config.hearing_data)}"]
          if config.hearing_data else []),
        f"- objective: {config.objective}",
        f"- steps: {config.max_steps} x batch {config.batch_size} x accumulation {config.grad_accum}, "
        f"lr {config.learning_rate} ({config.lr_schedule})"
        + (f", encoder lr {config.encoder_learning_rate}" if config.encoder_learning_rate is not None else "")
        + f", KL weight {config.kl_weight}",
        f"- training time (logged steps): {seconds / 60:.1f} min",
        "",
        "| step |" + "".join(f" {title} |" for _, title, _ in columns),
        "|---:|" + "---:|" * len(columns),
        *[f"| {e['step']} |" + "".join(f" {form.format(e[key]) if key in e else '-'} |" for key, _, form in columns)
          for e in evals],
        "",
    ]
    write_text_atomic(directory / "README.md", "\n".join(lines))
