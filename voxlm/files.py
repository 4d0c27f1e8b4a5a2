"""Files every step writes and reads: atomic writes, and JSONL with line-numbered errors.

    write_text_atomic(path, text)          write_json_atomic(path, obj)
    write_jsonl_atomic(path, records)      read_jsonl(path, required=("id", "text"))
    write_atomic(path, lambda tmp: sf.write(str(tmp), wave, SAMPLING_RATE, format="WAV"))

Every write goes to a temporary sibling that is renamed over `path` only once complete, so a
killed step never leaves a half-written file where a finished one is expected (and a reader on
another machine sees the old file or the new one, never a mix). Paths come first everywhere.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from pathlib import Path
from typing import Callable, Iterable, Sequence


def write_atomic(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call `write(tmp)` on a temporary sibling of `path` (same suffix), then rename it into place.

    The sibling does not exist when `write` is called, so it gets the permissions any new file
    gets (a shared output folder stays readable to the other machines). On failure it is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Host and pid name who left a temporary file behind; the random part keeps threads apart.
    tmp = path.with_name(f".{path.name}.tmp-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json_atomic(path: str | os.PathLike, obj, indent: int | None = 1) -> Path:
    """`obj` as UTF-8 JSON (non-ASCII characters as they are)."""
    return write_text_atomic(path, json.dumps(obj, indent=indent, ensure_ascii=False))


def write_jsonl_atomic(path: str | os.PathLike, records: Iterable[dict], ensure_ascii: bool = False) -> int:
    """One JSON object per line (UTF-8, or `\\u` escapes with `ensure_ascii`); returns the count.

    `records` may be a generator: lines are streamed to the temporary file, never held as one string.
    """
    count = 0

    def write(tmp: Path) -> None:
        nonlocal count
        with tmp.open("w", encoding="utf-8") as f:
            for record in records:
                f.write(json.dumps(record, ensure_ascii=ensure_ascii) + "\n")
                count += 1

    write_atomic(path, write)
    return count


def read_jsonl(path: str | os.PathLike, required: Sequence[str] = (), what: str = "each line",
               error: type[Exception] = ValueError) -> list[tuple[int, dict]]:
    """(line number, record) per non-blank line; every record must be an object with the `required` keys.

    Bad lines raise `error` naming `path:line` and what is wrong (not UTF-8, not JSON, not an
    object, missing keys); `what` names the record in that message, e.g. "an ASR line".
    """
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
                raise error(f"{path}:{number}: a line must be a JSON object, got {type(record).__name__}")
            missing = [k for k in required if k not in record]
            if missing:
                raise error(f"{path}:{number}: missing field(s) {missing}; {what} needs {list(required)}")
            records.append((number, record))
    return records
