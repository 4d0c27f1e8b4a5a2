"""`voxlm recordings`: your own recordings and their transcripts -> a speech dataset in `voxlm synth`'s format.

    voxlm recordings my-voice/list.jsonl --out data/my-voice
    voxlm features data/my-voice
    voxlm train --recipe recipes/align.yaml 'train_data=[data/my-voice]' 'speech_data=[data/my-voice]' 'eval_data=[]'

LIST is one of (relative audio paths are relative to the folder LIST is in, or to LIST itself for a folder):
- `*.jsonl`: one `{"audio": path, "text": transcript, "id"?: str, "speaker"?: str}` per line.
- `*.csv`: a header row naming `audio` and `text` (and optionally `id`, `speaker`), then one row per clip.
- `*.tsv`: `audio<TAB>transcript` lines, no header (blank lines and `#` comments are ignored).
- a folder: its `transcripts.tsv` (the `.tsv` form, names relative to the folder), or, without one,
  every audio file under it with its transcript in a `.txt` of the same name beside it (`a/b.wav` + `a/b.txt`).
An audio path may leave out its suffix (`hello` finds `hello.wav`, `hello.flac`, ...). A clip's id is its
"id", else its audio path as the list writes it, less the suffix (`spk1/hello` for
`spk1/hello.wav`). The voice column is `recorded:<speaker>`, or `recorded` without a speaker.

On disk (`OUT/`): what `voxlm synth` writes (`voxlm.data.shards`), so `voxlm features`, the stores of
`voxlm.data.features` and the training recipes read it unchanged:
    shard-00000/ ...   clips of list entries [k*shard_size, (k+1)*shard_size), each shard written whole or not at all
    manifest.json      synth's manifest keys (+ "kind": "recordings"), with every skipped clip and why
Columns: id, audio (float32, 16 kHz mono: `voxlm.audio.io.load_audio` resamples and mixes down),
sampling_rate, text (the transcript, whitespace collapsed), source_text (the transcript as given),
voice, augmentation (none, with seed 0), seconds. Transcripts reach alignment from the `text`
column: an `objective: ctc` recipe that names OUT in `train_data` (and in `speech_data`, for the
frames) trains on every clip of it (`read_transcribed_clips`).

Bad input:
- A mistake in the list (a line that does not parse, a missing or unknown field, an empty transcript,
  an audio file that does not exist, a duplicate id) is refused before anything is written, with one
  `file:line: ...` per problem, so one run shows everything there is to fix.
- A clip whose audio cannot be used is skipped, and listed (file:line, reason, detail) in the
  manifest and the summary: `unreadable` (corrupt, empty, not audio) and `too_long` (over
  `--max-seconds`, by default one 30 s encoder window). Skipped rather than refused because the
  list is right and the rest of it is good: one damaged file among thousands should not hold the
  others back. A long clip is useless to alignment, which reads one window per clip (its
  `TranscriptDataset` leaves longer ones out), so importing it would only cost disk and encoder time:
  split it.
A rerun reuses every finished shard and rebuilds one whose entries, settings or audio files
(size, modification time) changed, e.g. after a skipped file was replaced.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Sequence

import numpy as np

from ..audio.augment import Augmentation
from ..audio.io import SAMPLING_RATE, AudioError, AudioTooLong, load_audio
from ..files import write_json_atomic
from .shards import (FORMAT_VERSION, MANIFEST, audio_features, complete_shard_records, list_array, needs_build,
                     read_shard_record, shard_tally, write_shard_atomically)

__all__ = [
    "Recording", "RecordingsError", "read_recordings", "import_recordings", "add_recordings_arguments",
    "run_recordings", "FOLDER_LIST", "AUDIO_SUFFIXES",
]

KIND = "recordings"  # the manifest's "kind": what tells this folder from a `voxlm synth` one
FOLDER_LIST = "transcripts.tsv"  # the list inside a folder given as LIST
ENTRY_KEYS = ("audio", "text", "id", "speaker")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".opus", ".mp3", ".m4a", ".aac", ".webm", ".aiff", ".aif", ".au")
RECORDED_VOICE = "recorded"
# One Whisper window (`voxlm.model.processing_voxlm.WINDOW_SECONDS`, not imported: building the CLI parser
# imports this module, and that one brings torch). Alignment reads one window per clip.
MAX_SECONDS = 30.0
SHOWN_PROBLEMS = 20  # a list with thousands of broken lines needs the pattern, not every line
# Recordings are clean by definition: the same spec synth writes for "none", so `augmentation_of` reads it.
NO_AUGMENTATION = json.dumps({**Augmentation().to_dict(), "seed": 0}, sort_keys=True)


class RecordingsError(ValueError):
    """A list that cannot be imported as it is; the message names `file:line` for each problem."""


@dataclass(frozen=True)
class Recording:
    """One clip of the list, validated: `audio` is the resolved file, `where` the `file:line` it came from."""

    id: str
    audio: Path
    text: str
    where: str
    voice: str = RECORDED_VOICE

    def fingerprint_json(self) -> dict:
        """What the clip's row depends on: the entry and the audio file's identity (not its bytes: a
        rerun must not read every file again to find that nothing changed)."""
        try:
            stat = self.audio.stat()
            size, mtime = stat.st_size, stat.st_mtime_ns
        except OSError:
            size, mtime = None, None
        # Resolved: the same list named from another working folder must not look like a new one.
        return {"id": self.id, "text": self.text, "voice": self.voice, "audio": str(self.audio.resolve()),
                "size": size, "mtime_ns": mtime}


# ---- reading the list ---------------------------------------------------------------------------


def _jsonl_entries(path: Path, items: list) -> None:
    with path.open("rb") as f:
        for number, raw in enumerate(f, 1):
            where = f"{path}:{number}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                items.append(f"{where}: not UTF-8 text (byte {raw[e.start]:#04x} at column {e.start + 1})")
                continue
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                items.append(f"{where}: not valid JSON ({e.msg} at column {e.colno})")
                continue
            if not isinstance(obj, dict):
                items.append(f'{where}: a line must be a JSON object {{"audio": ..., "text": ...}}, '
                             f"got {type(obj).__name__}")
                continue
            items.append((where, obj))


def _csv_entries(path: Path, items: list) -> None:
    try:
        # utf-8-sig: spreadsheet programs often start a CSV export with a byte-order mark.
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        items.append(f"{path}: not UTF-8 text (byte at offset {e.start}); save the CSV as UTF-8")
        return
    reader = csv.reader(io.StringIO(text, newline=""))
    header = None
    try:
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = [cell.strip().lower() for cell in row]
                missing = [k for k in ("audio", "text") if k not in header]
                unknown = [k for k in header if k not in ENTRY_KEYS]
                if missing or unknown or len(set(header)) != len(header):
                    items.append(f"{where}: the header must name the columns audio and text (optionally id, "
                                 f"speaker), each once; got {row}")
                    return
                continue
            if len(row) != len(header):
                items.append(f"{where}: {len(row)} fields, the header has {len(header)} ({','.join(header)}); "
                             "quote a transcript that contains a comma")
                continue
            items.append((where, {k: v for k, v in zip(header, row) if not (k in ("id", "speaker") and not v)}))
    except csv.Error as error:
        items.append(f"{path}:{reader.line_num}: not valid CSV ({error})")
    if header is None:
        items.append(f"{path}: empty; a CSV list starts with the header audio,text")


def _tsv_entries(path: Path, items: list) -> None:
    with path.open("rb") as f:
        for number, raw in enumerate(f, 1):
            where = f"{path}:{number}"
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as e:
                items.append(f"{where}: not UTF-8 text (byte {raw[e.start]:#04x} at column {e.start + 1})")
                continue
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if "\t" not in line:
                items.append(f"{where}: expected audio<TAB>transcript, found no tab")
                continue
            audio, text = line.split("\t", 1)
            items.append((where, {"audio": audio.strip(), "text": text}))


def _sidecar_entries(folder: Path, items: list) -> None:
    """Every audio file under `folder` with the `.txt` of the same name beside it."""
    audio = sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    if not audio:
        items.append(f"{folder}: no {FOLDER_LIST} and no audio files ({', '.join(AUDIO_SUFFIXES)}) in it")
    for path in audio:
        transcript = path.with_suffix(".txt")
        where = f"{transcript}:1"
        if not transcript.is_file():
            items.append(f"{path}: no transcript: expected it in {transcript} "
                         f"(or list the folder's clips in {folder / FOLDER_LIST})")
            continue
        try:
            text = transcript.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError as e:
            items.append(f"{where}: not UTF-8 text (byte at offset {e.start})")
            continue
        items.append((where, {"audio": str(path.relative_to(folder)), "text": text}))


def _find_audio(base: Path, given: str) -> tuple[Path | None, str | None]:
    """(the audio file, None) or (None, what is wrong) for a path as written in the list."""
    path = Path(given).expanduser()
    path = path if path.is_absolute() else base / path
    if path.is_file():
        return path, None
    if path.is_dir():
        return None, f"audio {given!r} is a folder ({path}), not an audio file"
    # The suffix may be left out (a transcripts file of names): any one audio file of that name will do.
    found = [path.with_name(path.name + s) for s in AUDIO_SUFFIXES if path.with_name(path.name + s).is_file()]
    if len(found) == 1:
        return found[0], None
    if found:
        return None, f"audio {given!r} is ambiguous: {', '.join(p.name for p in found)}; name the file with its suffix"
    return None, f"audio file {path} not found"


def _default_id(given: str) -> str:
    """The audio path as the list writes it, less its audio suffix: `./spk1/hello.wav` -> `spk1/hello`."""
    path = PurePosixPath(given.replace(os.sep, "/"))
    return str(path.with_suffix("") if path.suffix.lower() in AUDIO_SUFFIXES else path)


def _validate(where: str, fields: dict, base: Path, problems: list[str]) -> Recording | None:
    unknown = sorted(set(fields) - set(ENTRY_KEYS))
    if unknown:
        problems.append(f"{where}: unknown keys {unknown}; valid keys are {list(ENTRY_KEYS)}")
        return None
    bad = len(problems)
    given, text = fields.get("audio"), fields.get("text")
    if not isinstance(given, str) or not given.strip():
        problems.append(f'{where}: "audio" must be a path to an audio file, got {given!r}')
    if not isinstance(text, str):
        problems.append(f'{where}: "text" (the transcript) must be a string, got {text!r}')
    elif not text.strip():
        problems.append(f"{where}: empty transcript; a clip without its words cannot be aligned (remove the line or "
                        "write what is said)")
    rid, speaker = fields.get("id"), fields.get("speaker")
    if rid is not None and (not isinstance(rid, str) or not rid.strip()):
        problems.append(f'{where}: "id" must be a non-empty string, got {rid!r}')
    if speaker is not None and (not isinstance(speaker, str) or not speaker.strip()):
        problems.append(f'{where}: "speaker" must be a non-empty string, got {speaker!r}')
    if len(problems) > bad:
        return None
    audio, why = _find_audio(base, given.strip())
    if audio is None:
        problems.append(f"{where}: {why}")
        return None
    voice = f"{RECORDED_VOICE}:{speaker.strip()}" if speaker else RECORDED_VOICE
    return Recording(rid.strip() if rid else _default_id(given.strip()), audio, text, where, voice)


def read_recordings(list_path: str | os.PathLike) -> list[Recording]:
    """Parse and validate a list (JSONL, CSV, TSV or a folder: see the module docstring); every audio file must exist.

    Raises RecordingsError listing each problem as `file:line: what` (the first `SHOWN_PROBLEMS` of them).
    """
    path = Path(list_path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such list (a .jsonl, .csv or .tsv file, or a folder of audio files)")
    # Each reader appends, in file order, (file:line, fields) per entry and a message per line it cannot read.
    items: list = []
    if path.is_dir():
        base = path
        listed = path / FOLDER_LIST
        if listed.is_file():
            _tsv_entries(listed, items)
        else:
            _sidecar_entries(path, items)
    else:
        base = path.parent
        readers = {".jsonl": _jsonl_entries, ".csv": _csv_entries, ".tsv": _tsv_entries}
        if path.suffix.lower() not in readers:
            raise RecordingsError(f"{path}: a list is a .jsonl, .csv or .tsv file, or a folder of audio files "
                                  f"with a {FOLDER_LIST} or a .txt beside each")
        readers[path.suffix.lower()](path, items)
    problems: list[str] = []
    recordings: list[Recording] = []
    first: dict[str, str] = {}
    for item in items:
        if isinstance(item, str):
            problems.append(item)
            continue
        recording = _validate(*item, base, problems)
        if recording is None:
            continue
        if recording.id in first:
            problems.append(f"{recording.where}: duplicate id {recording.id!r} (first at {first[recording.id]}); "
                            "give each clip its own id")
            continue
        first[recording.id] = recording.where
        recordings.append(recording)
    if problems:
        shown = "\n  ".join(problems[:SHOWN_PROBLEMS])
        more = f"\n  ... and {len(problems) - SHOWN_PROBLEMS} more" if len(problems) > SHOWN_PROBLEMS else ""
        raise RecordingsError(f"{len(problems)} problem(s) in the list {path}; nothing was imported:\n  {shown}{more}")
    if not recordings:
        raise RecordingsError(f"{path}: lists no recordings")
    return recordings


# ---- building shards ----------------------------------------------------------------------------


class _Skip(Exception):
    """This clip produces no row; `kind` is the counted reason, the message the details."""

    def __init__(self, kind: str, detail: str):
        super().__init__(detail)
        self.kind = kind


def load_row(recording: Recording, max_seconds: float | None) -> dict:
    """One recording -> one dataset row (16 kHz mono float32), or `_Skip` for audio that cannot be used."""
    try:
        # With the limit, a long file is refused from its header, before it is decoded and resampled.
        wave = load_audio(recording.audio, max_seconds=max_seconds)
    except AudioTooLong as error:
        raise _Skip("too_long", f"{recording.audio}: {error}") from None
    except AudioError as error:
        message = str(error)  # load_audio names the file in some messages, not in others
        detail = message if str(recording.audio) in message else f"{recording.audio}: {message}"
        raise _Skip("unreadable", detail) from None
    except OSError as error:  # gone or unreadable since the list was checked
        raise _Skip("unreadable", f"{recording.audio}: {error}") from None
    seconds = wave.size / SAMPLING_RATE
    if max_seconds is not None and seconds > max_seconds:  # resampling can round a hair over the header's length
        raise _Skip("too_long", f"{recording.audio}: {seconds:.1f} s of audio is over the {max_seconds:g} s limit")
    return {"id": recording.id, "audio": wave.astype(np.float32, copy=False), "sampling_rate": SAMPLING_RATE,
            "text": " ".join(recording.text.split()), "source_text": recording.text.strip(), "voice": recording.voice,
            "augmentation": NO_AUGMENTATION, "seconds": seconds}


def _rows_to_table(rows: list[dict]):
    import pyarrow as pa

    features = audio_features()
    arrays = {name: (list_array([r["audio"] for r in rows], np.float32) if name == "audio"
                     else pa.array([r[name] for r in rows], type=features[name].pa_type)) for name in features}
    return pa.table(arrays, schema=features.arrow_schema), features


def shard_fingerprint(recordings: Sequence[Recording], max_seconds: float | None) -> str:
    """What a shard's content depends on: its entries and audio files (in order) and the length limit."""
    h = hashlib.sha256()
    h.update(json.dumps({"format": FORMAT_VERSION, "kind": KIND, "sampling_rate": SAMPLING_RATE,
                         "max_seconds": max_seconds}, sort_keys=True).encode())
    for r in recordings:
        h.update(json.dumps(r.fingerprint_json(), sort_keys=True, ensure_ascii=False).encode("utf-8"))
    return h.hexdigest()


def build_shard(out_dir: Path, index: int, recordings: Sequence[Recording], fingerprint: str,
                max_seconds: float | None, on_item: Callable[[float], None] | None = None) -> dict:
    """Load one shard's clips and write the shard atomically; returns its record (without the ids)."""
    start = time.perf_counter()
    rows, sources, skipped = [], [], []
    for recording in recordings:
        seconds = 0.0
        try:
            rows.append(load_row(recording, max_seconds))
            sources.append(str(recording.audio))
            seconds = rows[-1]["seconds"]
        except _Skip as skip:
            skipped.append({"id": recording.id, "where": recording.where, "audio": str(recording.audio),
                            "reason": skip.kind, "detail": str(skip)})
        if on_item is not None:
            on_item(seconds)
    table, features = _rows_to_table(rows)
    voices: dict[str, int] = {}
    for r in rows:
        voices[r["voice"]] = voices.get(r["voice"], 0) + 1
    record = {
        "format": FORMAT_VERSION, "kind": KIND, "shard": index, "fingerprint": fingerprint,
        "requests": len(recordings), "first_line": recordings[0].where if recordings else None,
        "ids": [r["id"] for r in rows], "sources": sources,
        "skipped": skipped, "voices": voices, "audio_seconds": float(sum(r["seconds"] for r in rows)),
        "build_seconds": time.perf_counter() - start,
    }
    write_shard_atomically(out_dir, index, table, features, record)
    return {k: v for k, v in record.items() if k not in ("ids", "sources")}


def _check_out_dir(out: Path) -> None:
    """Refuse to mix recordings into a `voxlm synth` folder: its reruns would take our shards for stale ones."""
    try:
        manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if manifest.get("kind") != KIND:
        raise RecordingsError(f"{out} holds a `voxlm synth` dataset ({out / MANIFEST}); import recordings into a "
                              "folder of their own (several folders can be listed in a recipe's speech_data)")


def _remove_extra_shards(out: Path, num_shards: int, log: Callable[[str], None]) -> list[int]:
    """Shards past the end of a list that got shorter would still be read (stores open every shard there)."""
    removed = []
    for folder in sorted(out.glob("shard-[0-9]*")):
        try:
            index = int(folder.name.split("-")[1])
        except ValueError:
            continue
        record = read_shard_record(folder)
        if index >= num_shards and record is not None and record.get("kind") == KIND:
            log(f"{folder}: past the end of the list (now {num_shards} shard(s)); removing it")
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(index)
    return removed


def build_manifest(out: Path, list_path: Path, num_entries: int, shard_size: int, max_seconds: float | None,
                   this_run: dict) -> dict:
    """The dataset's summary, from the shard records on disk, under the keys `voxlm synth` writes."""
    num_shards = math.ceil(num_entries / shard_size)
    records = complete_shard_records(out, num_shards)
    tally = shard_tally(records, num_shards)
    seconds = sum(r["audio_seconds"] for r in records.values())
    return {
        "format": FORMAT_VERSION,
        "kind": KIND,
        "requests_file": str(list_path),
        "requests": num_entries,
        "shard_size": shard_size,
        **tally,
        # No TTS voice at all: nothing here is held out for evaluation (check_no_held_out_voices reads this).
        "clips_by_split": {"train": 0, "held_out": 0, "recorded": tally["clips"]},
        "audio_seconds": round(seconds, 3),
        "audio_hours": round(seconds / 3600, 4),
        "load_seconds": round(sum(r["build_seconds"] for r in records.values()), 3),
        "settings": {"max_seconds": max_seconds},
        "columns": list(audio_features()),
        "sampling_rate": SAMPLING_RATE,
        "last_run": this_run,
    }


def import_recordings(list_path: str | os.PathLike, out_dir: str | os.PathLike, *, shard_size: int = 256,
                      max_seconds: float | None = MAX_SECONDS, progress: bool = True,
                      log: Callable[[str], None] | None = None) -> dict:
    """Build (or finish) the speech dataset of the list in `out_dir`; returns the manifest.

    Arguments mirror `voxlm recordings` (see `add_recordings_arguments`); `max_seconds=None` keeps clips of any length.
    """
    from tqdm.auto import tqdm

    wall_start = time.perf_counter()
    log = log or (lambda message: print(message, file=sys.stderr))
    if shard_size < 1:
        raise ValueError(f"shard_size must be positive, got {shard_size}")
    if max_seconds is not None and max_seconds <= 0:
        raise ValueError(f"max_seconds must be positive, got {max_seconds}")
    list_path, out = Path(list_path), Path(out_dir)
    recordings = read_recordings(list_path)
    _check_out_dir(out)
    num_shards = math.ceil(len(recordings) / shard_size)
    out.mkdir(parents=True, exist_ok=True)

    jobs, reused, rebuilt = [], [], []
    for k in range(num_shards):
        chunk = recordings[k * shard_size : (k + 1) * shard_size]
        fingerprint = shard_fingerprint(chunk, max_seconds)
        if needs_build(out, k, fingerprint, reused, rebuilt, log):
            jobs.append((k, chunk, fingerprint))
    removed = _remove_extra_shards(out, num_shards, log)

    bar = tqdm(total=sum(len(chunk) for _, chunk, _ in jobs), unit="clip", desc="recordings", disable=not progress,
               dynamic_ncols=True)
    records = []
    try:
        for k, chunk, fingerprint in jobs:
            records.append(build_shard(out, k, chunk, fingerprint, max_seconds, on_item=lambda _: bar.update(1)))
    finally:
        bar.close()
    this_run = {
        "shards_built": [r["shard"] for r in records], "shards_reused": reused, "shards_rebuilt": rebuilt,
        "shards_removed": removed, "clips_built": sum(r["requests"] - len(r["skipped"]) for r in records),
        "audio_seconds_built": round(sum(r["audio_seconds"] for r in records), 3),
        "wall_seconds": round(time.perf_counter() - wall_start, 3),
    }
    manifest = build_manifest(out, list_path, len(recordings), shard_size, max_seconds, this_run)
    write_json_atomic(out / MANIFEST, manifest)
    return manifest


# ---- CLI ------------------------------------------------------------------------------------------


def add_recordings_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of `voxlm recordings`, for voxlm/cli.py to attach to its subparser."""
    parser.add_argument("list", metavar="LIST",
                        help='the clips and their transcripts: a .jsonl ({"audio", "text", "id"?, "speaker"?} a line), '
                             f"a .csv (header audio,text[,id,speaker]), a .tsv (audio<TAB>text), or a folder with a "
                             f"{FOLDER_LIST} or a .txt beside each audio file; relative paths are relative to the list")
    parser.add_argument("--out", required=True,
                        help="output folder (shard-00000/ ... and manifest.json, as `voxlm synth` writes them)")
    parser.add_argument("--shard-size", type=int, default=256, help="clips per shard (default 256)")
    parser.add_argument("--max-seconds", type=float, default=MAX_SECONDS,
                        help=f"skip clips longer than this (reason too_long; default {MAX_SECONDS:g}: alignment reads "
                             "one 30 s window per clip); 0 keeps every length")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def run_recordings(args: argparse.Namespace) -> int:
    """`voxlm recordings`: import the list and print a summary; 0 on success."""
    manifest = import_recordings(args.list, args.out, shard_size=args.shard_size,
                                 max_seconds=args.max_seconds or None, progress=not args.quiet)
    run = manifest["last_run"]
    print(f"{args.out}: {manifest['clips']} clips, {manifest['audio_hours']:.3f} h of audio in "
          f"{manifest['shards_complete']}/{manifest['shards']} shards; this run built {len(run['shards_built'])} "
          f"shard(s) ({run['clips_built']} clips) in {run['wall_seconds']:.1f} s")
    if manifest["skipped"]:
        print(f"skipped {manifest['skipped']}: {manifest['skipped_by_reason']} (all in {Path(args.out) / MANIFEST})")
        for item in manifest["skipped_items"][:5]:
            print(f"  {item['where']}: {item['reason']}: {item['detail']}")
    print(f"next: voxlm features {args.out}")
    return 0
