"""IFEval's metrics: one prompt's response scored against all its instructions
(`evaluate_item`), and the four accuracies over many prompts (`aggregate`).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from .checks import check, check_loose
from .registry import CHECKERS, UnknownInstructionError


def evaluate_item(response: str, instruction_id_list: Sequence[str],
                  kwargs_list: Sequence[Mapping[str, Any] | None] | None = None,
                  prompt: str | None = None) -> dict[str, Any]:
    """Score one prompt's response against all its instructions.

    Returns `{"prompt", "response", "instruction_id_list", "inst_strict": [bool],
    "inst_loose": [bool], "prompt_strict": bool, "prompt_loose": bool}`; a prompt passes when
    every one of its instructions does.
    """
    ids = list(instruction_id_list)
    if not ids:
        raise ValueError("evaluate_item() needs at least one instruction id")
    # All unknown ids in one error, rather than the first one `check` would trip on.
    unknown = [i for i in ids if i not in CHECKERS]
    if unknown:
        raise UnknownInstructionError(unknown)
    kwargs_list = list(kwargs_list) if kwargs_list is not None else [None] * len(ids)
    if len(kwargs_list) != len(ids):
        raise ValueError(f"{len(ids)} instruction ids but {len(kwargs_list)} kwargs dicts; give one per id")
    strict = [check(i, response, k) for i, k in zip(ids, kwargs_list)]
    loose = [check_loose(i, response, k) for i, k in zip(ids, kwargs_list)]
    return {
        "prompt": prompt,
        "response": response,
        "instruction_id_list": ids,
        "inst_strict": strict,
        "inst_loose": loose,
        "prompt_strict": all(strict),
        "prompt_loose": all(loose),
    }


def aggregate(results: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """IFEval's four accuracies over `evaluate_item` results, plus the counts behind them.

    Prompt level: share of prompts whose instructions all pass. Instruction level: share of
    all instructions, pooled over prompts (so prompts with more instructions weigh more).
    """
    results = list(results)
    if not results:
        raise ValueError("aggregate() needs at least one evaluate_item() result")
    out: dict[str, float] = {}
    for mode in ("strict", "loose"):
        instructions = [ok for r in results for ok in r[f"inst_{mode}"]]
        out[f"prompt_level_{mode}_acc"] = sum(r[f"prompt_{mode}"] for r in results) / len(results)
        out[f"inst_level_{mode}_acc"] = sum(instructions) / len(instructions)
    out["num_prompts"] = len(results)
    out["num_instructions"] = sum(len(r["inst_strict"]) for r in results)
    return out
