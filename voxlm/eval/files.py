"""Benchmark files: JSONL lines read as benchmark items, their audio paths resolved, items cut per condition.

Errors are `BenchmarkDataError`s naming the file, the line and the fix; the generic reading and
atomic writing is `voxlm.files`.
"""

from __future__ import annotations

import operator
from pathlib import Path
from typing import Callable, Iterable, Sequence

from .. import files


class BenchmarkDataError(ValueError):
    """A benchmark file that cannot be used; the message names the file, the line and the fix."""


def read_jsonl(path: str | Path, required: Sequence[str], what: str) -> list[tuple[int, dict]]:
    """(line number, record) for each non-blank line; each record must have the `required` keys.

    `what` names the format in error messages, e.g. "a SpeechInstructBench closed-ended line".
    """
    path = Path(path)
    if not path.is_file():
        raise BenchmarkDataError(f"{path}: no such file")
    records = files.read_jsonl(path, required, what, error=BenchmarkDataError)
    if not records:
        raise BenchmarkDataError(f"{path}: no records (expected one JSON object per line)")
    return records


def resolve_audio(path: Path, number: int, audio_path: object) -> Path:
    """`audio_path` of line `number` of JSONL `path`, resolved against the file's folder; must exist."""
    if not isinstance(audio_path, str) or not audio_path:
        raise BenchmarkDataError(f"{path}:{number}: 'audio_path' must be a non-empty string, got {audio_path!r}")
    resolved = (path.parent / audio_path).resolve()
    if not resolved.is_file():
        raise BenchmarkDataError(f"{path}:{number}: audio file {resolved} not found "
                                 f"(audio_path {audio_path!r} is read relative to {path.parent})")
    return resolved


def unique_key(path: Path, number: int, key: object, seen: set[str]) -> str:
    key = str(key)
    if key in seen:
        raise BenchmarkDataError(f"{path}:{number}: duplicate key {key!r}; keys must be unique within a file")
    seen.add(key)
    return key


def first_per_condition(items: Iterable, limit: int | None,
                        condition: Callable[[object], str] = operator.attrgetter("condition")) -> list:
    """The first `limit` items of each condition, in their original order (all when `limit` is None)."""
    if limit is not None and limit < 1:
        raise ValueError(f"--limit must be at least 1, got {limit}")
    counts: dict[str, int] = {}
    kept = []
    for item in items:
        name = condition(item)
        counts[name] = counts.get(name, 0) + 1
        if limit is None or counts[name] <= limit:
            kept.append(item)
    return kept
