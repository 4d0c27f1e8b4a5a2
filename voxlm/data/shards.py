"""Arrow shard folders as `voxlm synth` and `voxlm features` write them: names, ownership, atomic writes, checks.

    out/shard-00000/     a `Dataset.save_to_disk` folder + `shard.json`, its record (ids, file sizes, ...)
    out/shard-00001/ ... written whole or not at all (`write_shard_atomically`)

Both verbs build a dataset as numbered shards that machines share out (`owned_shards`) and that a
rerun checks (`check_shard`: record, file sizes, row count, ids) and reuses, rebuilds or finishes
(`needs_build`). Readers take a shard as complete once its record is there (`read_shard_record`):
the record is written last, inside the temporary folder that is renamed into place.
Nothing here speaks or encodes: reading cached frames or clips imports no TTS engine and no model.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

FORMAT_VERSION = 1
SHARD_RECORD = "shard.json"  # inside each shard folder, written last (before the rename)
MANIFEST = "manifest.json"  # a synth folder's summary, rebuilt from the shard records at the end of every run


def shard_name(index: int) -> str:
    return f"shard-{index:05d}"


def owned_shards(num_shards: int, worker_index: int = 0, num_machines: int = 1) -> list[int]:
    """The shard indices machine `worker_index` of `num_machines` builds: every m-th, from i."""
    if num_machines < 1 or not 0 <= worker_index < num_machines:
        raise ValueError(f"need 0 <= worker_index < num_machines, got {worker_index} of {num_machines}")
    return list(range(worker_index, num_shards, num_machines))


def _tmp_prefix(index: int) -> str:
    return f".{shard_name(index)}.tmp-"


def clean_partial(out_dir: Path, index: int) -> list[Path]:
    """Delete the temporary folders a killed run left for shard `index`; returns what was removed."""
    removed = sorted(out_dir.glob(_tmp_prefix(index) + "*"))
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed


def _file_sizes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in sorted(folder.iterdir()) if p.is_file() and p.name != SHARD_RECORD}


@contextlib.contextmanager
def quiet_datasets():
    """No nested 'Saving the dataset' bars under our own progress bar."""
    import datasets

    was_disabled = datasets.utils.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            datasets.enable_progress_bars()


def write_shard_atomically(out_dir: Path, index: int, table, features, record: dict) -> Path:
    """Save `table` (a pyarrow Table matching `features`) as `out_dir/shard-k/`, complete or not at all.

    The dataset and its record (`record` + file sizes) go to a temporary folder that is renamed into
    place last; a folder already there (a corrupt or stale shard) is moved aside and deleted first.
    """
    from datasets import Dataset, DatasetInfo
    from datasets.table import InMemoryTable

    final = out_dir / shard_name(index)
    tmp = out_dir / f"{_tmp_prefix(index)}{socket.gethostname()}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with quiet_datasets():
            Dataset(InMemoryTable(table), info=DatasetInfo(features=features)).save_to_disk(str(tmp))
        record = {**record, "rows": table.num_rows, "files": _file_sizes(tmp)}
        (tmp / SHARD_RECORD).write_text(json.dumps(record, indent=1, ensure_ascii=False), encoding="utf-8")
        if final.exists():
            trash = out_dir / f"{_tmp_prefix(index)}old-{os.getpid()}"
            os.rename(final, trash)
            shutil.rmtree(trash, ignore_errors=True)
        os.rename(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def read_shard_record(folder: Path) -> dict | None:
    """A shard's record, or None if the folder or its record is missing or unreadable."""
    try:
        return json.loads((folder / SHARD_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def complete_shard_records(root: Path, num_shards: int) -> dict[int, dict]:
    """{shard index: its record} for the shards of `root` that are complete (by any machine)."""
    records = {k: read_shard_record(root / shard_name(k)) for k in range(num_shards)}
    return {k: r for k, r in records.items() if r is not None}


def shard_tally(records: dict[int, dict], num_shards: int) -> dict:
    """The manifest keys every speech dataset shares, summed over its complete shard records: progress
    (shards done and missing), clips, skipped items by reason, and clips by voice."""
    skipped = [item for r in records.values() for item in r["skipped"]]
    voices: dict[str, int] = {}
    for record in records.values():
        for v, n in record["voices"].items():
            voices[v] = voices.get(v, 0) + n
    by_reason: dict[str, int] = {}
    for item in skipped:
        by_reason[item["reason"]] = by_reason.get(item["reason"], 0) + 1
    return {
        "shards": num_shards,
        "shards_complete": len(records),
        "missing_shards": [k for k in range(num_shards) if k not in records],
        "complete": len(records) == num_shards,
        "clips": sum(r["rows"] for r in records.values()),
        "skipped": len(skipped),
        "skipped_by_reason": dict(sorted(by_reason.items())),
        "skipped_items": skipped,
        "voices": dict(sorted(voices.items())),
    }


def needs_build(root: Path, index: int, fingerprint: str, reused: list, rebuilt: list, log: Callable,
                ids: Sequence[str] | None = None) -> bool:
    """Resume bookkeeping shared by synth and features for shard `index` under `root`.

    Clears a killed run's temporary folders; a good shard is reused (False); a stale or corrupt one is
    logged, recorded in `rebuilt`, deleted, and must be built again (True), as must a missing one.
    """
    clean_partial(root, index)
    folder = root / shard_name(index)
    state = check_shard(folder, fingerprint, ids=ids)
    if state == "ok":
        reused.append(index)
        return False
    if state != "missing":
        log(f"{folder}: {state}; rebuilding it")
        rebuilt.append({"shard": index, "why": state})
        shutil.rmtree(folder, ignore_errors=True)
    return True


def check_shard(folder: Path, fingerprint: str | None = None, ids: Sequence[str] | None = None) -> str:
    """"ok", "missing", "stale" (built from other inputs), or "corrupt: <why>" for an existing shard folder.

    Checks the record, that every data file has the recorded size, that the dataset opens, and its
    row count and ids (against the record, or `ids` when given).
    """
    if not folder.exists():
        return "missing"
    record = read_shard_record(folder)
    if record is None:
        return "corrupt: no readable shard.json"
    if record.get("format") != FORMAT_VERSION:
        return "stale"
    if fingerprint is not None and record.get("fingerprint") != fingerprint:
        return "stale"
    try:
        sizes = _file_sizes(folder)
    except OSError as error:
        return f"corrupt: {error}"
    if sizes != record.get("files"):
        return f"corrupt: files differ from the record (found {sizes}, recorded {record.get('files')})"
    try:
        import datasets

        ds = datasets.load_from_disk(str(folder))
        found_ids = ds.data.table.column("id").to_pylist()
    except Exception as error:  # noqa: BLE001 - any failure to open means the shard is unusable
        return f"corrupt: cannot be opened ({type(error).__name__}: {str(error)[:200]})"
    if len(found_ids) != record.get("rows"):
        return f"corrupt: {len(found_ids)} rows, the record says {record.get('rows')}"
    expected = list(ids) if ids is not None else record.get("ids")
    if expected is not None and found_ids != list(expected):
        return "corrupt: the ids differ from the record"
    return "ok"



def audio_features():
    """The columns of a `voxlm synth` shard (what `voxlm.data.features.AudioStore` reads back)."""
    from datasets import Features, List, Value

    return Features({
        "id": Value("string"), "audio": List(Value("float32")), "sampling_rate": Value("int32"),
        "text": Value("string"), "source_text": Value("string"), "voice": Value("string"),
        "augmentation": Value("string"), "seconds": Value("float64"),
    })


def list_array(arrays: Sequence[np.ndarray], dtype):
    """Arrow `list<dtype>` from numpy rows without a Python loop over values (int32 offsets)."""
    import pyarrow as pa

    lengths = np.fromiter((a.size for a in arrays), np.int64, len(arrays))
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    if offsets[-1] >= 2**31:
        raise ValueError(f"a shard of {offsets[-1]} values is too big for one Arrow list: use a smaller shard size")
    values = np.concatenate(arrays).astype(dtype, copy=False) if arrays else np.zeros(0, dtype)
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), pa.array(values))

