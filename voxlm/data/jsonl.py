"""JSONL in and out, the format every voxlm data step reads and writes.

Reading names the file and line of any bad record; writing is atomic (temp file + rename), so a
killed step never leaves a half-written file where a finished one is expected.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Sequence


def read_jsonl(path: str | Path, required: Sequence[str] = (), what: str = "each line",
               error: type[Exception] = ValueError) -> list[tuple[int, dict]]:
    """(line number, record) per non-blank line; every record must be an object with the `required` keys."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    records = []
    with path.open("rb") as f:
        for number, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise error(f"{path}:{number}: not UTF-8 text (byte {raw[e.start]:#04x} at column {e.start + 1}); "
                            "JSONL files are read as UTF-8") from None
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise error(f"{path}:{number}: not valid JSON ({e.msg} at column {e.colno})") from None
            if not isinstance(record, dict):
                raise error(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
            missing = [k for k in required if k not in record]
            if missing:
                raise error(f"{path}:{number}: missing field(s) {missing}; {what} needs {list(required)}")
            records.append((number, record))
    return records


def write_jsonl(records: Iterable[dict], path: str | Path) -> int:
    """Write one JSON object per line, atomically; returns the count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    count = 0
    with partial.open("w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    partial.replace(path)
    return count
