"""`voxlm eval` throughput: items/s per benchmark and system (text, cascade, speech, whisper).

    python bench/eval_throughput.py [--bench all] [--model CKPT] [--limit 1] [--max-new-tokens 32] [--batch-size 1 8] [--out results.json]
    python bench/eval_throughput.py --from EVAL_DIR/results.json     # tabulate an existing run

Runs the real `voxlm eval` path into a fresh temporary folder (so no answer is reused from an
earlier run) and reads the per-system timings it records: a system's seconds are its own answer
time (the cascade's include its Whisper pass), model loading excluded. Building the benchmark
audio is timed apart (`prepare_s`; cached clips make a second run's near zero). The default run
is tiny (1 item per condition, 32 new tokens at most): raise --limit for stable figures.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from voxlm.eval import cli


def table(results: dict) -> list[dict]:
    rows = []
    for name, section in results["benchmarks"].items():
        for system, t in section["timing"].items():
            rows.append({"bench": name, "system": system, "items": t["items"], "seconds": t["seconds"],
                         "items_per_s": t["items_per_s"]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", default="all", choices=[*cli.BENCHMARKS, "all"])
    parser.add_argument("--model")
    parser.add_argument("--limit", type=int, default=1, help="items per condition")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, nargs="+", default=[1, 8],
                        help="answers decoded at once; several: one run each, compared")
    parser.add_argument("--from", dest="source", help="an existing results.json to tabulate instead of running")
    parser.add_argument("--out", help="write the table as JSON here")
    args = parser.parse_args()

    if args.source:
        rows, meta = table(json.loads(Path(args.source).read_text())), {"source": args.source}
    else:
        rows, meta = [], {"limit": args.limit, "max_new_tokens": args.max_new_tokens,
                          "threads": torch.get_num_threads(), "model": args.model or "default", "runs": []}
        for batch_size in args.batch_size:
            with tempfile.TemporaryDirectory() as out:
                eval_args = argparse.Namespace(bench=args.bench, model=args.model, out=out, data=None, limit=args.limit,
                                               seed=args.seed, max_new_tokens=args.max_new_tokens, cache=None,
                                               no_progress=True, batch_size=batch_size, interface=None)
                names = list(cli.BENCHMARKS) if args.bench == "all" else [args.bench]
                start = time.perf_counter()
                cli.prepare(names, eval_args)
                prepare_s = time.perf_counter() - start
                start = time.perf_counter()
                cli.run_eval(eval_args)
                results = json.loads((Path(out) / "results.json").read_text())
            meta["runs"].append({"batch_size": batch_size, "prepare_s": round(prepare_s, 1),
                                 "run_s": round(time.perf_counter() - start, 1)})
            rows += [{**r, "batch_size": batch_size} for r in table(results)]
    print(f"{'bench':12} {'system':9} {'batch':>5} {'items':>6} {'seconds':>9} {'items/s':>9}")
    for r in rows:
        ips = "-" if r["items_per_s"] is None else f"{r['items_per_s']:.3f}"
        print(f"{r['bench']:12} {r['system']:9} {r.get('batch_size', '-'):>5} {r['items']:>6} {r['seconds']:>9.1f} {ips:>9}")
    print(json.dumps(meta))
    if args.out:
        Path(args.out).write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
