"""The benchmark registry and the loop that answers and scores every item three ways.

A benchmark is one entry in `BENCHMARKS`: how to get its items (build voxlm's own set, or read
a user's JSONL), which systems answer, and how a set of answers is scored. Adding a benchmark =
adding a module with `prepare`-able items and a `score` function, and one entry here.

    section = evaluate(BENCHMARKS["instruct"], items, systems)
    section["metrics"]["speech"]["standard"]["prompt_level_strict_acc"]
    section["modality_gap"]["all"]["prompt_level_strict_acc"]     # speech / text

Answers are appended to a response log as they come (`DIR/responses/<bench>.jsonl`), keyed by
model, item and answer budget, so an interrupted run resumes where it stopped and a rerun of the
same model on the same items only re-scores.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from . import asr, generalize, instruct
from .baselines import SYSTEMS, Item, ItemSet, Systems
from .files import BenchmarkDataError
from .metrics import gap

ALL = "all"  # the pooled row next to the per-condition rows


@dataclass(frozen=True)
class Benchmark:
    """What `voxlm eval --bench NAME` runs.

    `prepare(data, cache_dir, seed, limit, speak, progress) -> ItemSet` builds (data None) or
    reads (a JSONL path) the items; `score(items, responses) -> {system: {metric: value}}` with
    `responses[system][item_id]`; `metrics` maps each metric to whether higher is better.
    """

    name: str
    description: str
    conditions: tuple[str, ...]
    systems: tuple[str, ...]
    metrics: dict[str, bool]
    headline: str
    data_format: str
    prepare: Callable[..., ItemSet]
    score: Callable[[Sequence[Item], dict[str, dict[str, str]]], dict[str, dict[str, float | None]]]


def _prepare_instruct(data, cache_dir: Path, seed: int, limit, speak=None, progress=False) -> ItemSet:
    if data is not None:
        return instruct.read_instruct(data, limit)
    folder = Path(cache_dir) / "instruct" / f"n{instruct.DEFAULT_SIZE}-seed{seed}"
    path = instruct.build_instruct_set(folder, instruct.DEFAULT_SIZE, seed, limit, speak, progress)
    return instruct.read_instruct(path, limit)


def _prepare_generalize(data, cache_dir: Path, seed: int, limit, speak=None, progress=False) -> ItemSet:
    passages = generalize.passages_from_jsonl(data) if data is not None else None
    # User passages get their own folder, named by their content, so two files never share clips.
    name = "default" if passages is None else "passages-" + hashlib.sha1(
        json.dumps(passages, sort_keys=True).encode()).hexdigest()[:10]
    folder = Path(cache_dir) / "generalize" / f"{name}-seed{seed}"
    path = generalize.build_generalize_set(folder, passages, generalize.DEFAULT_PER_SPLIT, seed, limit, speak, progress)
    item_set = generalize.read_generalize(path, limit)
    if data is not None:
        item_set.source = f"{data} (passages), built into {path}"
    return item_set


def _prepare_asr(data, cache_dir: Path, seed: int, limit, speak=None, progress=False) -> ItemSet:
    if data is not None:
        return asr.read_asr(data, limit)
    path, notes = asr.build_asr_set(Path(cache_dir) / "asr" / f"seed{seed}", seed, limit, asr.SYNTHETIC_SIZE,
                                    speak, progress)
    item_set = asr.read_asr(path, limit)
    item_set.notes.update(notes)
    return item_set


BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in (
    Benchmark("instruct", "verifiable spoken instructions (IFEval checkers) under five acoustic conditions",
              instruct.CONDITIONS, SYSTEMS, instruct.METRICS, "prompt_level_strict_acc",
              "SpeechInstructBench closed-ended JSONL: key, audio_path, prompt, instruction_id_list, kwargs",
              _prepare_instruct, instruct.score),
    Benchmark("generalize", "task prompts over spoken passages: seen / held-out wordings / held-out tasks",
              generalize.CONDITIONS, SYSTEMS, generalize.METRICS, "agreement_rouge_l",
              "passages JSONL: id, text", _prepare_generalize, generalize.score),
    Benchmark("asr", "word error rate on real human speech and held-out synthetic voices",
              asr.CONDITIONS, asr.SYSTEMS, asr.METRICS, "word_accuracy",
              "ASR JSONL: key, audio_path, text (+ condition)", _prepare_asr, asr.score),
)}


class ResponseLog:
    """Answers already given, one JSON line each: `{model, system, item, fingerprint, response, seconds}`.

    Only lines of the same model and the same item fingerprint (question + answer budget) are
    reused; a torn last line (a run killed mid-write) is ignored.
    """

    def __init__(self, path: Path | None, model_key: str, system_keys: dict[str, str] | None = None):
        # `system_keys` lets systems that do not use the connector (text ceiling, cascade) be keyed by
        # the base models alone, so their answers are reused across connector checkpoints.
        self.path, self.model_key, self.system_keys = path, model_key, system_keys or {}
        self.entries: dict[tuple[str, str], tuple[str, float]] = {}
        if path is not None and path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    r = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if r.get("model") == self.key(r.get("system", "")):
                    self.entries[(r["system"], r["fingerprint"])] = (r["response"], r["seconds"])

    def key(self, system: str) -> str:
        return self.system_keys.get(system, self.model_key)

    def get(self, system: str, fingerprint: str) -> tuple[str, float] | None:
        return self.entries.get((system, fingerprint))

    def put(self, system: str, item: Item, fingerprint: str, response: str, seconds: float) -> None:
        self.entries[(system, fingerprint)] = (response, seconds)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(json.dumps({"model": self.key(system), "system": system, "item": item.id,
                                    "condition": item.condition, "fingerprint": fingerprint, "response": response,
                                    "seconds": round(seconds, 4)}, ensure_ascii=False) + "\n")


def conditions_of(bench: Benchmark, items: Sequence[Item]) -> list[str]:
    """The conditions present, the benchmark's own order first (a user's file may add others)."""
    present = list(dict.fromkeys(i.condition for i in items))
    return [c for c in bench.conditions if c in present] + [c for c in present if c not in bench.conditions]


def evaluate(bench: Benchmark, item_set: ItemSet, systems: Systems, log: ResponseLog | None = None,
             progress: bool = True, batch_size: int = 1) -> dict:
    """Answer every item with every system (`batch_size` answers decoding at once), score per condition and
    pooled, and compute the gaps.

    Returns the benchmark's section of results.json: `metrics[system][condition][metric]`,
    `modality_gap[condition][metric]` (speech / text), `cascade_gap` (cascade / text),
    `num_items`, `timing[system]` (items, seconds, items_per_s), `source` and `notes`.
    """
    from tqdm.auto import tqdm

    items = item_set.items
    if not items:
        raise BenchmarkDataError(f"{bench.name}: no items to evaluate ({item_set.source})")
    log = log or ResponseLog(None, "")
    responses: dict[str, dict[str, str]] = {s: {} for s in bench.systems}
    seconds = {s: 0.0 for s in bench.systems}
    reused = 0
    bar = tqdm(total=len(items) * len(bench.systems), desc=bench.name, unit="answer", disable=not progress)
    for system in bench.systems:
        todo = []
        for item in items:
            done = log.get(system, item.fingerprint(systems.budget(item)))
            if done is None:
                todo.append(item)
            else:
                reused += 1
                responses[system][item.id], took = done
                seconds[system] += took
                bar.update(1)
        for item, response, took in systems.answers(todo, system, batch_size) if todo else ():
            log.put(system, item, item.fingerprint(systems.budget(item)), response, took)  # as it comes: a killed run resumes
            responses[system][item.id] = response
            seconds[system] += took
            bar.update(1)
    bar.close()

    conditions = conditions_of(bench, items)
    metrics: dict[str, dict[str, dict]] = {s: {} for s in bench.systems}
    for condition in conditions + [ALL]:
        subset = [i for i in items if condition in (ALL, i.condition)]
        for system, scores in bench.score(subset, responses).items():
            metrics[system][condition] = {m: _round(v) for m, v in scores.items()}
    section = {
        "description": bench.description,
        "source": item_set.source,
        "conditions": conditions,
        "systems": list(bench.systems),
        "higher_is_better": dict(bench.metrics),
        "headline": bench.headline,
        "num_items": {c: sum(i.condition == c for i in items) for c in conditions} | {ALL: len(items)},
        "metrics": metrics,
        "modality_gap": gap(metrics, bench.metrics, "speech", "text"),
        "cascade_gap": gap(metrics, bench.metrics, "cascade", "text"),
        "timing": {s: {"items": len(items), "seconds": round(seconds[s], 3),
                       "items_per_s": round(len(items) / seconds[s], 4) if seconds[s] else None}
                   for s in bench.systems},
        "answers_reused": reused,
    }
    if item_set.notes:
        section["notes"] = item_set.notes
    return section


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)
