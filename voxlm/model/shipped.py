"""The checkpoints shipped inside the package, chosen by name: `voxlm chat --model NAME`, `load_voxlm(NAME)`.

Each shipped model is a folder `voxlm/checkpoints/<name>/` holding a trained VoxLM checkpoint (config,
connector weights, model card); the frozen base models it names are converted once into `$VOXLM_HOME`
by `voxlm assets`. Wherever a checkpoint is taken, a name from this list or a checkpoint folder will do.
"""

from __future__ import annotations

import json
from pathlib import Path

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "checkpoints"
DEFAULT_MODEL = "default"
DEFAULT_CHECKPOINT = SHIPPED_DIR / DEFAULT_MODEL
MODEL_HELP = f"a shipped model's name (`voxlm models`) or a VoxLM checkpoint folder (default: {DEFAULT_MODEL})"


class UnknownModelError(ValueError):
    """A `--model` that is neither a shipped name nor a checkpoint folder; the message lists the names."""


def shipped_models() -> dict[str, Path]:
    """name -> folder of every shipped checkpoint (a folder under voxlm/checkpoints with a config.json)."""
    if not SHIPPED_DIR.is_dir():
        return {}
    return {p.name: p for p in sorted(SHIPPED_DIR.iterdir()) if (p / "config.json").is_file()}


def resolve_checkpoint(model: str | Path | None) -> Path | None:
    """The checkpoint folder `model` names: None -> the default (None when the package ships none yet),
    a shipped name -> its folder, an existing folder -> itself. Anything else raises `UnknownModelError`."""
    if model is None:
        return DEFAULT_CHECKPOINT if (DEFAULT_CHECKPOINT / "config.json").is_file() else None
    shipped = shipped_models()
    text = str(model)
    if text in shipped and not Path(text).is_dir():  # a folder of the same name in the working directory wins
        return shipped[text]
    folder = Path(model)
    if folder.is_dir():
        return folder
    names = ", ".join(shipped) or "none are installed"
    raise UnknownModelError(f"unknown model {text!r}: give a shipped model ({names}; `voxlm models` lists them) "
                            "or a checkpoint folder")


def describe(name: str, folder: Path) -> dict:
    """What `voxlm models` prints about one shipped checkpoint: its base models, interface and sizes."""
    config = json.loads((folder / "config.json").read_text())
    trained = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    return {"name": name, "text_model": config.get("text_model"), "audio_model": config.get("audio_model"),
            "interface": config.get("interface", "projector"), "trained_mb": round(trained / 1e6, 1),
            "path": str(folder)}
