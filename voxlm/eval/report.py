"""results.json -> report.md (tables) and PNG bar charts (speech vs text vs cascade per condition).

Pure presentation: `write_report(results, out_dir)` reads nothing but the results dict, so a
report can be rebuilt from any saved results.json (`python -m voxlm.eval.report DIR`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..files import write_text_atomic

# One colour per system in every plot.
COLORS = {"text": "#4c72b0", "cascade": "#dd8452", "speech": "#55a868", "whisper": "#8172b3", "connector": "#937860"}
LABELS = {"text": "text (ceiling)", "cascade": "cascade (ASR + LLM)", "speech": "VoxLM (speech)", "whisper": "Whisper alone",
          "connector": "VoxLM's CTC transcript"}


def _fmt(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]


def headline_rows(results: dict) -> list[list[str]]:
    """One row per benchmark: its headline metric on all items, per system, and the modality gap."""
    rows = []
    for name, section in results["benchmarks"].items():
        metric = section["headline"]
        scores = {s: section["metrics"][s].get("all", {}).get(metric) for s in section["systems"]}
        rows.append([name, metric, _fmt(scores.get("text")), _fmt(scores.get("cascade")), _fmt(scores.get("speech")),
                     _fmt(section["modality_gap"].get("all", {}).get(metric))])
    return rows


def benchmark_markdown(name: str, section: dict, plot: str | None) -> list[str]:
    lines = [f"## {name}", "", section.get("description", ""), "", f"Items from: `{section['source']}`  "]
    lines.append("Items per condition: " + ", ".join(f"{c} {n}" for c, n in section["num_items"].items()))
    systems = section["systems"]
    conditions = section["conditions"] + ["all"]
    for metric, higher in section["higher_is_better"].items():
        lines += ["", f"### {metric} ({'higher' if higher else 'lower'} is better)", ""]
        header = ["condition", "n"] + [LABELS.get(s, s) for s in systems]
        if higher:
            header += ["modality gap (speech/text)", "cascade/text"]
        rows = []
        for c in conditions:
            row = [c, str(section["num_items"].get(c, ""))]
            row += [_fmt(section["metrics"][s].get(c, {}).get(metric)) for s in systems]
            if higher:
                row += [_fmt(section["modality_gap"].get(c, {}).get(metric)),
                        _fmt(section["cascade_gap"].get(c, {}).get(metric))]
            rows.append(row)
        lines += _table(header, rows)
    lines += ["", "### Throughput", ""]
    lines += _table(["system", "items", "seconds", "items/s"],
                    [[LABELS.get(s, s), str(t["items"]), f"{t['seconds']:.1f}", _fmt(t["items_per_s"])]
                     for s, t in section["timing"].items()])
    if section.get("answers_reused"):
        lines += ["", f"{section['answers_reused']} answers were reused from an earlier run of the same model "
                      "(their times are the original ones)."]
    notes = section.get("notes", {})
    if "unsupported" in notes:
        u = notes["unsupported"]
        lines += ["", f"**Not scored:** {u['items']} item(s) with unsupported instructions: "
                  + ", ".join(f"`{i}` ({n})" for i, n in u["unknown_instruction_ids"].items())
                  + ("; " if u["unknown_instruction_ids"] else "")
                  + "; ".join(f"line {x['line']}: {x['reason']}" for x in u["lines"][:10])]
    for condition, why in notes.get("skipped", {}).items():
        lines += ["", f"**Skipped condition `{condition}`:** {why}"]
    if plot:
        lines += ["", f"![{name}]({plot})"]
    return lines + [""]


def plot_benchmark(name: str, section: dict, path: Path) -> Path:
    """Grouped bars: one panel per metric, conditions along x, one bar per system."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    metrics = list(section["higher_is_better"])
    conditions = section["conditions"] + ["all"]
    systems = section["systems"]
    fig, axes = plt.subplots(1, len(metrics), figsize=(max(5.0, 1.1 * len(conditions) + 2) * len(metrics), 4.2),
                             squeeze=False)
    width = 0.8 / len(systems)
    x = np.arange(len(conditions))
    for ax, metric in zip(axes[0], metrics):
        for k, system in enumerate(systems):
            values = [section["metrics"][system].get(c, {}).get(metric) for c in conditions]
            ax.bar(x + (k - (len(systems) - 1) / 2) * width, [np.nan if v is None else v for v in values], width,
                   label=LABELS.get(system, system), color=COLORS.get(system))
        finite = [v for s in systems for c in conditions
                  if (v := section["metrics"][s].get(c, {}).get(metric)) is not None]
        ax.set_ylim(0.0, max([1.0] + finite) * 1.05)  # scores share a 0-1 scale; WER can exceed 1
        ax.set_xticks(x, conditions, rotation=20, ha="right")
        ax.set_title(f"{metric} ({'higher' if section['higher_is_better'][metric] else 'lower'} is better)", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"{name}: speech vs text vs cascade")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_modality_gap(results: dict, path: Path) -> Path:
    """The headline figure: speech / text of each benchmark's headline metric, per condition."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, values = [], []
    for name, section in results["benchmarks"].items():
        for c in section["conditions"] + ["all"]:
            labels.append(f"{name}\n{c}")
            value = section["modality_gap"].get(c, {}).get(section["headline"])
            values.append(float("nan") if value is None else value)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.7 * len(labels)), 4.2))
    bars = ax.bar(range(len(labels)), values, color=COLORS["speech"])
    ax.bar_label(bars, labels=["n/a" if v != v else f"{v:.2f}" for v in values], fontsize=7)
    ax.set_ylim(0.0, max([1.1] + [v * 1.1 for v in values if v == v]))
    ax.axhline(1.0, color="black", lw=0.8, ls="--")
    ax.set_xticks(range(len(labels)), labels, fontsize=7, rotation=45, ha="right")
    ax.set_ylabel("speech / text")
    ax.set_title("Modality gap (headline metric; 1.0 = speech loses nothing)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_report(results: dict, out_dir: str | Path) -> list[Path]:
    """Write `report.md`, `<bench>.png` per benchmark and `modality_gap.png` into `out_dir`; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta = results.get("metadata", {})
    written = []
    lines = ["# VoxLM evaluation", ""]
    lines += [f"- model: `{meta.get('model')}` (encoder `{meta.get('audio_model')}`, LLM `{meta.get('text_model')}`)",
              f"- seed {meta.get('seed')}, limit per condition {meta.get('limit') or 'none'}, "
              f"max new tokens {meta.get('max_new_tokens') or 'per item'}, greedy decoding",
              "- metric libraries: " + ", ".join(f"{k} {v}" for k, v in meta.get("metric_versions", {}).items()),
              f"- created {meta.get('created', '?')}", ""]
    lines += ["## Modality gap (speech score / text score)", ""]
    lines += _table(["benchmark", "metric", LABELS["text"], LABELS["cascade"], LABELS["speech"], "modality gap"],
                    headline_rows(results))
    lines += [""]
    for name, section in results["benchmarks"].items():
        plot = plot_benchmark(name, section, out / f"{name}.png")
        written.append(plot)
        lines += benchmark_markdown(name, section, plot.name)
    if results["benchmarks"]:
        written.append(plot_modality_gap(results, out / "modality_gap.png"))
        lines += ["![modality gap](modality_gap.png)", ""]
    report = out / "report.md"
    write_text_atomic(report, "\n".join(lines))
    return [report] + written


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 1:
        print("usage: python -m voxlm.eval.report DIR   (DIR holds results.json)", file=sys.stderr)
        return 2
    folder = Path(args[0])
    for path in write_report(json.loads((folder / "results.json").read_text()), folder):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
