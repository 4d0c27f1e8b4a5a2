"""The comparison words counting instructions take (`relation`, `let_relation`, ...).

One table serves both sides: the checkers compare with it, and the kwarg validation in
`_kwargs.py` names its keys when a value is not one of them.
"""

from __future__ import annotations

import operator
from typing import Callable

RELATIONS: dict[str, Callable[[int, int], bool]] = {
    "less than": operator.lt,
    "at least": operator.ge,
    # IFEval's data uses only the two above; these read naturally in hand-made benchmark items.
    "at most": operator.le,
    "more than": operator.gt,
    "exactly": operator.eq,
}


def compare(count: int, relation: str, target: int) -> bool:
    """Whether `count` stands in `relation` to `target`, e.g. compare(3, "less than", 5)."""
    return RELATIONS[relation](count, target)
