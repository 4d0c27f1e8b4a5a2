"""`voxlm models`: the checkpoints shipped in the package, by name, with their base models and sizes."""

from __future__ import annotations

import argparse


def add_models_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="one JSON object per model instead of a table")


def run_models(args: argparse.Namespace) -> int:
    """List every shipped model: name, LLM, encoder, interface, trained weights, base model sizes."""
    import json

    from ..assets import asset_status
    from .shipped import DEFAULT_MODEL, describe, shipped_models

    sizes = {row["name"]: row["size_mb"] for row in asset_status()}  # None until `voxlm assets` converted it
    rows = []
    for name, folder in shipped_models().items():
        row = describe(name, folder)
        row["default"] = name == DEFAULT_MODEL
        row["base_mb"] = {m: sizes.get(m) for m in (row["text_model"], row["audio_model"]) if m}
        rows.append(row)
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    print(f"{'model':24} {'LLM':32} {'encoder':18} {'interface':12} {'trained':>9} {'base models':>12}")
    for row in rows:
        base = row["base_mb"].values()
        base_text = f"{sum(base):.0f} MB" if base and None not in base else "not converted"
        name = row["name"] + (" *" if row["default"] else "")
        print(f"{name:24} {row['text_model'] or '-':32} {row['audio_model'] or '-':18} {row['interface']:12} "
              f"{row['trained_mb']:>6.1f} MB {base_text:>12}")
    print("no shipped models in this install" if not rows else "* the default, used when no --model is given")
    return 0
