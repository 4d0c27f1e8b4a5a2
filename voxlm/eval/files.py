"""Benchmark files: JSONL read with line-numbered errors, audio clips cached by content, atomic writes."""

from __future__ import annotations

import hashlib
import json
import operator
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from ..data import jsonl


class BenchmarkDataError(ValueError):
    """A benchmark file that cannot be used; the message names the file, the line and the fix."""


def read_jsonl(path: str | Path, required: Sequence[str], what: str) -> list[tuple[int, dict]]:
    """(line number, record) for each non-blank line; each record must have the `required` keys.

    `what` names the format in error messages, e.g. "a SpeechInstructBench closed-ended line".
    """
    path = Path(path)
    if not path.is_file():
        raise BenchmarkDataError(f"{path}: no such file")
    records = jsonl.read_jsonl(path, required, what, error=BenchmarkDataError)
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


def content_hash(*parts: object) -> str:
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:10]


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Call `write(tmp)` on a temporary sibling of `path`, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text_atomic(path: Path, text: str) -> None:
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_jsonl_atomic(path: Path, records: Iterable[dict]) -> None:
    jsonl.write_jsonl(records, path)


def cached_clip(path: Path, make: Callable[[], np.ndarray]) -> Path:
    """`path` (a 16 kHz wav); made with `make()` only when it does not exist yet.

    Clip names carry a hash of everything that shapes the audio (text, voice, augmentation), so
    an existing file is always the right one and reruns synthesize nothing.
    """
    if not path.is_file():
        import soundfile as sf

        wave = np.clip(np.asarray(make(), np.float32), -1.0, 1.0)
        write_atomic(path, lambda tmp: sf.write(str(tmp), wave, 16_000, subtype="PCM_16", format="WAV"))
    return path
