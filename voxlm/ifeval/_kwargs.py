"""From an IFEval record's raw kwargs to the keyword arguments a checker takes.

IFEval files are data from elsewhere, so kwargs are validated before any checker sees them:
unknown and missing keys are errors naming the valid ones, and the shared value kinds
(relations, language codes, letters, word lists) are checked or coerced once here instead of
in every checker.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from ._relations import RELATIONS
from .language import LANGUAGES
from .registry import Checker


def _as_list(value: Any) -> list[str]:
    # A bare string would otherwise be iterated letter by letter.
    return [value] if isinstance(value, str) else list(value)


def _relation(value: str) -> str:
    if value not in RELATIONS:
        raise ValueError(f"unknown relation {value!r}; valid relations are {list(RELATIONS)}")
    return value


def _language(value: str) -> str:
    if value not in LANGUAGES:
        raise ValueError(f"unsupported language code {value!r}; supported codes are {sorted(LANGUAGES)}")
    return value


def _letter(value: str) -> str:
    if len(value) != 1:
        raise ValueError(f"`letter` must be a single character, got {value!r}")
    return value


# Keyed by kwarg name, not instruction: IFEval reuses a name with one meaning across ids.
NORMALIZERS: dict[str, Callable[[Any], Any]] = {
    "keywords": _as_list,
    "forbidden_words": _as_list,
    "relation": _relation,
    "let_relation": _relation,
    "capital_relation": _relation,
    "language": _language,
    "letter": _letter,
}


def resolve_kwargs(checker: Checker, kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """`kwargs` without None values, checked against `checker.kwargs` and normalised.

    None values are dropped first because the Hugging Face copy of IFEval stores every
    instruction's kwargs as one dict with all keys, mostly None. A missing key raises rather
    than being drawn at random as IFEval would: a score must not depend on a random draw.
    """
    given = {k: v for k, v in (kwargs or {}).items() if v is not None}
    valid = checker.kwargs
    unknown = sorted(set(given) - set(valid))
    if unknown:
        raise ValueError(
            f"{checker.instruction_id}: unknown kwargs {unknown}; "
            + (f"valid keys are {list(valid)}" if valid else "it takes no kwargs")
        )
    missing = [k for k in valid if k not in given]
    if missing:
        raise ValueError(
            f"{checker.instruction_id}: missing kwargs {missing} (IFEval would pick them at random; "
            f"pass them explicitly). Required keys are {list(valid)}"
        )
    return {k: NORMALIZERS.get(k, lambda v: v)(v) for k, v in given.items()}
