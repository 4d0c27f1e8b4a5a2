"""Hearing during training, run beside run: the `hearing_*` figures that every eval logs to `metrics.jsonl`.

    python bench/hearing_curves.py NAME=runs/a/metrics.jsonl[@T] NAME=runs/b/metrics.jsonl[@T] [--out DIR]

For each run and each eval step: token and word error rate of the connector's own transcript of
`hearing_data` (held-out voices, held-out text), at the model's blank threshold (`@T` names it, so runs
that saved different ones line up) and at every extra threshold the run logged (`hearing_thresholds`),
plus the mean training CTC loss of the steps since the previous eval. Prints a markdown table; with `--out`, writes `hearing_curves.json` (every row) and
`hearing_curves.png` (word error rate by step, a line per run and threshold). Runs of one recipe on one
data order compare step for step; only thresholds both runs logged compare at all.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def read_run(path: Path, own: float | None) -> list[dict]:
    """One row per eval with hearing: step, mean train CTC since the previous eval, and error rates by threshold
    (`own`, or `None` when not given, for the model's own)."""
    rows, ctc = [], []
    for line in path.read_text().splitlines():
        entry = json.loads(line)
        if "ctc" in entry:
            ctc.append(entry["ctc"])
        if "hearing_token_error_rate" not in entry:
            continue
        rates = {own: (entry["hearing_token_error_rate"], entry["hearing_word_error_rate"])}
        for key, value in entry.items():
            if key.startswith("hearing_token_error_rate@"):
                suffix = key.split("@")[1]
                rates[float(suffix)] = (value, entry[f"hearing_word_error_rate@{suffix}"])
        rows.append({"step": entry["step"], "train_ctc": sum(ctc) / len(ctc) if ctc else None, "rates": rates})
        ctc = []
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", metavar="NAME=METRICS[@T]",
                        help="a name, a run's metrics.jsonl and, after @, the blank threshold its model saved")
    parser.add_argument("--out", help="folder for hearing_curves.json and hearing_curves.png")
    args = parser.parse_args()
    runs = {}
    for spec in args.runs:
        name, _, path = spec.partition("=")
        path, _, own = path.partition("@")
        if not path:
            raise SystemExit(f"{spec!r}: give NAME=path/to/metrics.jsonl")
        runs[name] = read_run(Path(path), float(own) if own else None)

    print("| run | step | train CTC | threshold | hearing TER | hearing WER |")
    print("|---|---:|---:|---|---:|---:|")
    flat = []
    for name, rows in runs.items():
        for row in rows:
            for threshold, (ter, wer) in sorted(row["rates"].items(), key=lambda kv: (kv[0] is not None, kv[0] or 0)):
                flat.append({"run": name, "step": row["step"], "train_ctc": row["train_ctc"],
                             "threshold": threshold, "ter": ter, "wer": wer})
                ctc = f"{row['train_ctc']:.3f}" if row["train_ctc"] is not None else "-"
                print(f"| {name} | {row['step']} | {ctc} | {'own' if threshold is None else threshold} "
                      f"| {ter:.3f} | {wer:.3f} |")
    if args.out:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "hearing_curves.json").write_text(json.dumps({"runs": args.runs, "rows": flat}, indent=1))
        fig, ax = plt.subplots(figsize=(8, 5))
        for name in runs:
            for threshold in sorted({r["threshold"] for r in flat if r["run"] == name and r["threshold"] is not None}):
                points = [(r["step"], r["wer"]) for r in flat if r["run"] == name and r["threshold"] == threshold]
                ax.plot(*zip(*points), marker="o", label=f"{name} @ {threshold:g}")
        ax.set_xlabel("step")
        ax.set_ylabel("hearing word error rate (held-out voices)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "hearing_curves.png", dpi=100)
        print(f"wrote {out / 'hearing_curves.json'} and {out / 'hearing_curves.png'}")


if __name__ == "__main__":
    main()
