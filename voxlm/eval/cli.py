"""`voxlm eval`: run the benchmarks on a checkpoint; write results.json, report.md and plots.

    voxlm eval --bench all --model ckpt/ --out eval/ --limit 20
    voxlm eval --bench instruct --data SpeechInstructBench/closed_ended.jsonl --out eval-sib/

Items are prepared first (voxlm's own sets are synthesized once into `--cache`, default
`$VOXLM_HOME/eval`), so a bad data file fails before any model loads. Then VoxLM answers every
item as text ceiling, cascade and speech (see `baselines.py`), the scores go to `OUT/results.json`,
the tables to `OUT/report.md`, the bar charts to `OUT/*.png`, and every answer to
`OUT/responses/<bench>.jsonl` (a rerun of the same model reuses them).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from pathlib import Path

from ..files import write_text_atomic
from ..inference import DEFAULT_BATCH_SIZE
from ..model.shipped import MODEL_HELP
from .baselines import ItemSet, Systems
from .benchmarks import ALL, BENCHMARKS, ResponseLog, evaluate
from .metrics import metric_versions, package_versions
from .report import write_report


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bench", choices=[*BENCHMARKS, "all"], default="all", help="which benchmark (default: all)")
    parser.add_argument("--model", help=MODEL_HELP)
    parser.add_argument("--out", required=True, help="output folder: results.json, report.md, *.png, responses/")
    parser.add_argument("--data", help="the benchmark's own JSONL instead of voxlm's built set: "
                        + "; ".join(f"{b.name}: {b.data_format}" for b in BENCHMARKS.values()))
    parser.add_argument("--limit", type=int, help="at most N items per condition (quick runs)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the built sets (voices, constraints, noise)")
    parser.add_argument("--max-new-tokens", type=int, help="cap every answer at N tokens (default: each item's own budget)")
    parser.add_argument("--interface", help="projector | soft_tokens: how audio enters the LLM, overriding the "
                        "checkpoint's setting (to compare both on one connector)")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                        help=f"answers decoded at once (default {DEFAULT_BATCH_SIZE}, the fastest on 2 CPU cores); "
                        "1: one at a time")
    parser.add_argument("--cache", help="where built benchmark audio is kept (default: $VOXLM_HOME/eval)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def model_key(checkpoint: str | None, seed: int, overrides: dict | None = None) -> str:
    """Identifies the answering model in the response log: the checkpoint's files (names, sizes,
    mtimes) and the config overrides it is used with, or the seed when the default is an untrained
    connector (seeded at load)."""
    from ..model import resolve_checkpoint

    folder = resolve_checkpoint(checkpoint)
    if folder is None or not (folder / "config.json").is_file():
        return f"untrained-default-seed{seed}" if not checkpoint else f"missing:{checkpoint}"
    stats = sorted((p.relative_to(folder).as_posix(), p.stat().st_size, p.stat().st_mtime_ns)
                   for p in folder.rglob("*") if p.is_file())
    blob = [str(folder.resolve()), stats] + ([overrides] if overrides else [])  # no overrides: keys as before
    return hashlib.sha1(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:16]


def decoding(systems) -> dict:
    """What the checkpoint's `generation_config.json` changes in its LLM's own decoding defaults (e.g. a
    repetition_penalty): it governs the text ceiling and the cascade too, so it is part of their keys."""
    model = getattr(systems.chat, "model", None)
    if model is None or getattr(model.config, "text_model", None) is None:
        return {}
    from transformers import GenerationConfig

    from ..assets import resolve_model_path

    own = GenerationConfig.from_pretrained(resolve_model_path(model.config.text_model)).to_dict()
    used = model.language_model.generation_config.to_dict()
    return {k: v for k, v in sorted(used.items()) if k != "transformers_version" and own.get(k) != v}


def base_model_keys(config, systems, changed: dict) -> dict[str, str]:
    """Keys for the systems that never see the connector: with the LLM frozen (no LoRA), the text ceiling
    and the cascade answer the same whatever connector checkpoint is evaluated (given the same decoding)."""
    if config is None or getattr(config, "lora_rank", 0):
        return {}
    asr = str(getattr(systems.transcribe, "model_dir", "custom"))
    llm = f"llm:{config.text_model}" + (f"|{json.dumps(changed)}" if changed else "")
    return {"text": llm, "cascade": f"{llm}|asr:{asr}", "whisper": f"asr:{asr}"}


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def prepare(names: list[str], args: argparse.Namespace) -> dict[str, ItemSet]:
    from ..assets import voxlm_home

    cache = Path(args.cache) if args.cache else voxlm_home() / "eval"
    data = Path(args.data) if args.data else None
    return {name: BENCHMARKS[name].prepare(data, cache, args.seed, args.limit, progress=not args.no_progress)
            for name in names}


def run_eval(args: argparse.Namespace) -> int:
    names = list(BENCHMARKS) if args.bench == "all" else [args.bench]
    if args.data and len(names) > 1:
        raise SystemExit("--data is one benchmark's file: pick --bench " + "|".join(BENCHMARKS))
    if args.limit is not None and args.limit < 1:
        raise SystemExit(f"--limit must be at least 1, got {args.limit}")
    batch_size = getattr(args, "batch_size", DEFAULT_BATCH_SIZE)
    if batch_size < 1:
        raise SystemExit(f"--batch-size must be at least 1, got {batch_size}")
    out = Path(args.out)
    start = time.perf_counter()
    item_sets = prepare(names, args)

    seed_everything(args.seed)  # an untrained default connector is initialised from this seed
    overrides = {"interface": args.interface} if args.interface else {}
    systems = Systems.load(args.model, args.max_new_tokens, overrides)
    config = getattr(getattr(systems.chat, "model", None), "config", None)
    changed = decoding(systems)
    results = {
        "metadata": {
            "model": args.model or "default",
            "model_key": model_key(args.model, args.seed, overrides),
            "interface": getattr(config, "interface", None),
            "audio_model": getattr(config, "audio_model", None),
            "text_model": getattr(config, "text_model", None),
            "cascade_asr": str(getattr(systems.transcribe, "model_dir", "custom")),
            "seed": args.seed,
            "limit": args.limit,
            "max_new_tokens": args.max_new_tokens,
            "batch_size": batch_size,
            "data": args.data,
            "decoding": "greedy" + "".join(f", {k}={v}" for k, v in changed.items()),
            "metric_versions": metric_versions(),
            "versions": package_versions(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
        "benchmarks": {},
    }
    for name in names:
        log = ResponseLog(out / "responses" / f"{name}.jsonl", results["metadata"]["model_key"],
                          base_model_keys(config, systems, changed))
        results["benchmarks"][name] = evaluate(BENCHMARKS[name], item_sets[name], systems, log,
                                               progress=not args.no_progress, batch_size=batch_size)
        results["metadata"]["seconds"] = round(time.perf_counter() - start, 1)
        write_text_atomic(out / "results.json", json.dumps(results, indent=2))  # after each benchmark: partial results survive
    written = write_report(results, out)
    print(summary(results))
    print(f"wrote {out / 'results.json'}, " + ", ".join(str(p) for p in written), file=sys.stderr)
    return 0


def summary(results: dict) -> str:
    """A plain-text table of each benchmark's headline metric per condition and system."""
    lines = []
    for name, section in results["benchmarks"].items():
        metric = section["headline"]
        systems = section["systems"]
        lines.append(f"{name} — {metric}")
        lines.append(f"  {'condition':18}" + "".join(f"{s:>10}" for s in systems) + f"{'gap':>10}")
        for c in section["conditions"] + [ALL]:
            cells = [section["metrics"][s].get(c, {}).get(metric) for s in systems]
            g = section["modality_gap"].get(c, {}).get(metric)
            lines.append(f"  {c:18}" + "".join(f"{'-' if v is None else f'{v:.3f}':>10}" for v in cells)
                         + f"{'-' if g is None else f'{g:.3f}':>10}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """`python -m voxlm.eval.cli ...` until the verb is registered in voxlm/cli.py."""
    parser = argparse.ArgumentParser(prog="voxlm eval", description=__doc__.splitlines()[0])
    add_eval_arguments(parser)
    return run_eval(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
