"""The package's layers follow the data flow: a module imports only from its own layer or the ones below.

    assets, audio, files, ifeval  ->  tts, model  ->  inference  ->  data  ->  train, eval  ->  serve, cli

Inference sits under data because the MTBI teacher (`data/imitate.py`) answers through it. Every import is
read from the source (top-level and inside functions alike), so a lazy import cannot hide an upward edge.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "voxlm"
LAYERS = [{"assets", "audio", "files", "ifeval"}, {"tts", "model"}, {"inference"}, {"data"}, {"train", "eval"},
          {"serve", "cli"}]
LAYER = {name: level for level, names in enumerate(LAYERS) for name in names}


def top(module: Path) -> str:
    """The first-level name a file belongs to: `voxlm/data/synth.py` -> data, `voxlm/cli.py` -> cli."""
    return module.relative_to(PACKAGE).with_suffix("").parts[0]


def imported(module: Path) -> set[str]:
    """The first-level voxlm names `module` imports, absolute or relative."""
    package = module.relative_to(PACKAGE).with_suffix("").parts[:-1]  # a package's __init__ names itself too
    names = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[1] for a in node.names if a.name.startswith("voxlm.")}
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                if node.module and node.module.startswith("voxlm."):
                    names.add(node.module.split(".")[1])
                elif node.module == "voxlm":
                    names |= {a.name for a in node.names}
                continue
            base = package[: len(package) - (node.level - 1)]
            target = [*base, *(node.module.split(".") if node.module else [])]
            names |= {target[0]} if target else {a.name for a in node.names}
    return names


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] != "__init__.py")


def test_every_first_level_module_has_a_layer():
    assert {top(m) for m in modules()} <= set(LAYER), "name the new module's layer in LAYERS"


def test_no_module_imports_from_a_higher_layer():
    upward = sorted(f"{m.relative_to(PACKAGE.parent)} imports voxlm.{name}"
                    for m in modules() for name in imported(m)
                    if name in LAYER and LAYER[name] > LAYER[top(m)])
    assert not upward, "\n".join(upward)


def test_evaluation_does_not_depend_on_the_server():
    assert not [m for m in modules() if top(m) == "eval" and "serve" in imported(m)]


def test_the_reader_sees_relative_and_lazy_imports():
    """The checker itself: it must see `from ..serve import x` inside a function, or the tests above prove nothing."""
    here = PACKAGE / "eval" / "cli.py"
    assert "inference" in imported(here) and "model" in imported(here)
