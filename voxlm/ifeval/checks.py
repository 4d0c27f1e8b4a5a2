"""One instruction against one response, from raw IFEval kwargs: `check` (strict),
`check_loose` (IFEval's forgiving variant) and `describe` (the instruction as a sentence).

All three resolve kwargs the same way (`_kwargs.resolve_kwargs`), so `describe` doubles as a
response-free validation of a record's kwargs.
"""

from __future__ import annotations

from typing import Any, Mapping

from ._kwargs import resolve_kwargs
from .registry import get_checker


def check(instruction_id: str, response: str, kwargs: Mapping[str, Any] | None = None,
          prompt: str | None = None) -> bool:
    """Strict IFEval check of one instruction on one response.

    `kwargs` are the instruction's IFEval kwargs (None values ignored). `prompt` is accepted so
    that IFEval records can be passed through as they are; no checker reads it (repeat_prompt
    reads `prompt_to_repeat`, which excludes the repeat instruction itself). A blank response
    follows nothing, as in IFEval, so it cannot pass e.g. no_comma.
    """
    checker = get_checker(instruction_id)
    resolved = resolve_kwargs(checker, kwargs)
    return bool(response.strip()) and checker.check(response, **resolved)


def _loose_variants(response: str) -> list[str]:
    lines = response.split("\n")
    # Models wrap answers in a chatty first line ("Sure, here it is:") or last line, and in
    # markdown emphasis; loose scoring forgives exactly these, as IFEval does.
    trimmed = [response] + ["\n".join(ls).strip() for ls in (lines[1:], lines[:-1], lines[1:-1])]
    return trimmed + [t.replace("*", "") for t in trimmed]


def check_loose(instruction_id: str, response: str, kwargs: Mapping[str, Any] | None = None,
                prompt: str | None = None) -> bool:
    """IFEval's loose check: the strict check passes on any of the response, the response
    without its first line, without its last line, without both, and each of these with every
    `*` removed. Blank variants do not count."""
    checker = get_checker(instruction_id)
    resolved = resolve_kwargs(checker, kwargs)
    return any(v.strip() and checker.check(v, **resolved) for v in _loose_variants(response))


def describe(instruction_id: str, kwargs: Mapping[str, Any] | None = None) -> str:
    """A short, speakable English sentence stating the instruction, e.g. for TTS prompts."""
    checker = get_checker(instruction_id)
    return checker.describe(**resolve_kwargs(checker, kwargs))
