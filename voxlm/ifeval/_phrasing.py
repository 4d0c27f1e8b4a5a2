"""English phrasing shared by the instructions' `describe` sentences (counts, lists, ordinals).

These sentences are spoken by TTS in the built benchmarks, so they spell things out the way a
person would say them ("the second paragraph", "rain and umbrella") rather than as data.
"""

from __future__ import annotations

from typing import Sequence


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def join(items: Sequence[str], conjunction: str = "and") -> str:
    items = [str(i) for i in items]
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")


def ordinal(n: int) -> str:
    return _ORDINALS[n - 1] if 1 <= n <= len(_ORDINALS) else f"number {n}"
