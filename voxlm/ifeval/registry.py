"""The registry of verifiable instructions: what an instruction is (`Checker`), where each
family module registers its own (`instruction`), and the error for an id nobody registered.

Kept apart from the family modules so that they can register without importing one another,
and apart from `scoring` so that the registry has no opinion on how responses are scored.
"""

from __future__ import annotations

import difflib
import inspect
from dataclasses import dataclass
from typing import Callable, Iterable


@dataclass(frozen=True)
class Checker:
    """One verifiable instruction.

    `check(response, **kwargs) -> bool` and `describe(**kwargs) -> str` take the same
    keyword-only kwargs, all required; `kwargs` lists their names.
    """

    instruction_id: str
    check: Callable[..., bool]
    describe: Callable[..., str]

    @property
    def kwargs(self) -> tuple[str, ...]:
        return tuple(inspect.signature(self.check).parameters)[1:]


# Filled as the family modules are imported (by `voxlm.ifeval`'s __init__, in IFEval's order).
CHECKERS: dict[str, Checker] = {}


def instruction(instruction_id: str, describe: Callable[..., str]):
    """Decorator registering `fn(response, **kwargs) -> bool` as `instruction_id`'s check."""

    def register(fn: Callable[..., bool]) -> Callable[..., bool]:
        CHECKERS[instruction_id] = Checker(instruction_id, fn, describe)
        return fn

    return register


class UnknownInstructionError(ValueError):
    """An instruction id outside `SUPPORTED_INSTRUCTIONS`; `.unknown` holds the offending ids."""

    def __init__(self, unknown: Iterable[str]):
        self.unknown = tuple(dict.fromkeys(unknown))
        parts = []
        for instruction_id in self.unknown:
            close = difflib.get_close_matches(instruction_id, CHECKERS, n=1)
            parts.append(repr(instruction_id) + (f" (did you mean {close[0]!r}?)" if close else ""))
        super().__init__(
            f"unknown instruction id(s): {', '.join(parts)}. The {len(CHECKERS)} supported ids are "
            "listed by `python -c 'from voxlm.ifeval import SUPPORTED_INSTRUCTIONS as s; "
            "print(*s, sep=chr(10))'`."
        )


def get_checker(instruction_id: str) -> Checker:
    """The registered checker, or `UnknownInstructionError` (with a did-you-mean)."""
    if instruction_id not in CHECKERS:
        raise UnknownInstructionError([instruction_id])
    return CHECKERS[instruction_id]
