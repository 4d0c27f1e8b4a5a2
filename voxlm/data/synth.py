"""`voxlm synth`: a JSONL file of text requests -> a speech dataset in Arrow shards.

    synthesize("requests.jsonl", "data/speech", voices="train", num_workers=2)
    voxlm synth requests.jsonl data/speech --num-workers 2            # the same from the shell

One request per line: `{"id": str, "text": str, "voice"?: str, "augment"?: ..., "disfluency"?: float}`.
- `voice`: a name from `voxlm voices`; absent -> drawn from the voice pool by hashing id and seed,
  so the same request always gets the same voice, whatever the sharding or worker count.
- `augment`: absent -> the run's `--augment` default; `null` or "none" -> clean speech; "random" ->
  `random_augmentation` drawn from a seed hashed from id and seed; a dict -> that `Augmentation`.
- `disfluency`: rate of fillers/repetitions/repairs injected into the text before it is spoken
  (absent -> the run's `--disfluency`, default 0).

On disk (`OUT/`):
    shard-00000/            a `Dataset.save_to_disk` folder (+ shard.json, its own record)
    shard-00001/ ...        shard k holds the requests of lines [k*shard_size, (k+1)*shard_size)
    manifest.json           counts, skipped items with reasons, voices, audio hours, wall time
Columns: id, audio (float32 list, 16 kHz), sampling_rate, text (what was spoken, after disfluency
injection), source_text, voice, augmentation (JSON: the `Augmentation` fields plus the `seed` that
rebuilds it: `augment(clean, spec, seed)`), seconds.

Every shard is built in a temporary folder and renamed into place when complete, so a killed run
leaves no half-written shard and a rerun skips the finished ones (a no-op once all are done).
On a rerun each existing shard of this worker is checked (its record, file sizes, row count and
ids); an unreadable one is reported, deleted and rebuilt, and so is a stale one (the requests or
settings it was built from changed). Text a voice cannot say is skipped and recorded with its
reason; it is never dropped silently.

Parallelism: `num_workers` processes on one machine (each builds whole shards, one ONNX thread
each); `worker_index`/`num_machines` let several machines share an output folder: machine i takes
shards i, i+m, i+2m, ... The manifest is rebuilt from the shard records on disk at the end of every
run, so after the last machine finishes (or after any rerun) it describes the whole dataset.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import queue as queue_module
import sys
import time
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence

import numpy as np

from ..audio.augment import Augmentation, inject_disfluencies, random_augmentation
from ..audio.io import SAMPLING_RATE
from ..files import read_jsonl, write_json_atomic
from ..tts import (ENGINES, HELD_OUT_VOICES, TRAIN_VOICES, EngineUnavailable, list_voices, speak, voice_info,
                   voice_split)
from .seeds import derived_seed
from .shards import (FORMAT_VERSION, MANIFEST, audio_features, complete_shard_records, list_array, needs_build,
                     owned_shards, shard_tally, write_shard_atomically)
from .speech import AugmentationFailed, render_speech

__all__ = [
    "SynthRequest", "SynthSettings", "RequestError", "read_requests", "resolve_voice_pool", "choose_voice",
    "synthesize", "add_synth_arguments", "run_synth", "augmentation_of", "MANIFEST",
]

REQUEST_KEYS = ("id", "text", "voice", "augment", "disfluency")
AUGMENT_POLICIES = ("none", "random")
_DEFAULT = "default"  # a request without an "augment" key follows the run's policy


class RequestError(ValueError):
    """A malformed requests file; the message names the file and line."""


@dataclass(frozen=True)
class SynthRequest:
    """One line of the requests file, validated. `augment` is "default", "none", "random" or a spec dict."""

    id: str
    text: str
    line: int
    voice: Optional[str] = None
    augment: Any = _DEFAULT
    disfluency: Optional[float] = None

    def to_json(self) -> dict:
        """The request as given (what a shard's fingerprint covers; the line number is not content)."""
        return {"id": self.id, "text": self.text, "voice": self.voice, "augment": self.augment,
                "disfluency": self.disfluency}


@dataclass(frozen=True)
class SynthSettings:
    """Run-level choices that, with the requests, determine every output sample."""

    voices: tuple[str, ...] = TRAIN_VOICES  # pool for requests that name no voice
    seed: int = 0
    augment: str = "none"  # policy for requests without an "augment" key: "none" | "random"
    disfluency: float = 0.0  # rate for requests without a "disfluency" key
    max_seconds: Optional[float] = None  # clips longer than this (after augmentation) are skipped

    def __post_init__(self):
        if not self.voices:
            raise ValueError("the voice pool is empty")
        if self.augment not in AUGMENT_POLICIES:
            raise ValueError(f"augment policy must be one of {AUGMENT_POLICIES}, got {self.augment!r}")
        if not 0.0 <= self.disfluency <= 1.0:
            raise ValueError(f"disfluency rate must be in [0, 1], got {self.disfluency}")


# ---- requests ------------------------------------------------------------------------------


def _parse_request(obj: dict, where: str, line: int) -> SynthRequest:
    unknown = sorted(set(obj) - set(REQUEST_KEYS))
    if unknown:
        raise RequestError(f"{where}: unknown keys {unknown}; valid keys are {list(REQUEST_KEYS)}")
    rid, text = obj.get("id"), obj.get("text")
    if not isinstance(rid, str) or not rid:
        raise RequestError(f"{where}: \"id\" must be a non-empty string, got {rid!r}")
    if not isinstance(text, str):
        raise RequestError(f"{where}: \"text\" must be a string, got {type(text).__name__}")
    voice = obj.get("voice")
    if voice is not None:
        if not isinstance(voice, str):
            raise RequestError(f"{where}: \"voice\" must be a voice name string, got {voice!r}")
        try:
            voice_info(voice)
        except ValueError as error:
            raise RequestError(f"{where}: {error}") from None
    spec: Any = _DEFAULT
    if "augment" in obj:
        spec = obj["augment"]
        if spec is None:
            spec = "none"
        elif isinstance(spec, dict):
            try:
                spec = Augmentation.from_dict(spec).to_dict()
            except (TypeError, ValueError) as error:
                raise RequestError(f"{where}: bad \"augment\": {error}") from None
        elif spec not in AUGMENT_POLICIES:
            raise RequestError(f"{where}: \"augment\" must be null, \"none\", \"random\" or an Augmentation "
                               f"object, got {spec!r}")
    rate = obj.get("disfluency")
    if rate is not None:
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate <= 1.0:
            raise RequestError(f"{where}: \"disfluency\" must be a number in [0, 1], got {rate!r}")
        rate = float(rate)
    return SynthRequest(rid, text, line, voice, spec, rate)


def read_requests(path: str | os.PathLike) -> list[SynthRequest]:
    """Parse and validate a requests JSONL file (blank lines are ignored).

    Raises RequestError naming `path:line` for text that is not UTF-8, bad JSON, unknown keys, wrong types, unknown voices,
    bad augmentation specs and duplicate ids.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such requests file (one JSON object per line: "
                                '{"id": ..., "text": ...})')
    requests: list[SynthRequest] = []
    first_line: dict[str, int] = {}
    for number, obj in read_jsonl(path, error=RequestError):
        where = f"{path}:{number}"
        request = _parse_request(obj, where, number)
        if request.id in first_line:
            raise RequestError(f"{where}: duplicate id {request.id!r} (first on line {first_line[request.id]})")
        first_line[request.id] = number
        requests.append(request)
    return requests


# ---- per-request choices (pure functions of request + settings) ----------------------------


def choose_voice(request_id: str, pool: Sequence[str], seed: int = 0) -> str:
    """The pool voice for a request that names none: a hash of id and seed, uniform over the pool."""
    return pool[derived_seed(seed, request_id, "voice") % len(pool)]


_SPLIT_POOLS = {"train": TRAIN_VOICES, "held_out": HELD_OUT_VOICES, "all": TRAIN_VOICES + HELD_OUT_VOICES}


def resolve_voice_pool(voices: str | Sequence[str]) -> tuple[str, ...]:
    """"train" / "held_out" / "all" / "a,b,c" / a list of terms -> voice names (validated, in order).

    A term is a split word, a voice name, or `-X` that drops an engine's voices or one voice from
    what the terms before it chose: "train,-kokoro" is every training voice but the slow Kokoro ones.
    """
    terms = [v.strip() for v in voices.split(",") if v.strip()] if isinstance(voices, str) else list(voices)
    pool: list[str] = []
    for term in terms:
        if term.startswith("-"):
            drop = term[1:]  # an engine, else a voice (ValueError with close matches for a typo)
            dropped = set(list_voices(engine=drop)) if drop in ENGINES else {voice_info(drop).name}
            pool = [v for v in pool if v not in dropped]
        else:
            pool.extend(_SPLIT_POOLS.get(term, (term,)))
    pool = tuple(dict.fromkeys(pool))  # unique, in order
    for name in pool:
        voice_info(name)  # ValueError with close matches for a typo
    if not pool:
        raise ValueError("the voice pool is empty: use 'train', 'held_out', 'all' or a comma-separated list of voices "
                         "(a term '-ENGINE' or '-VOICE' drops voices from the ones before it)")
    return pool


def _augmentation_for(request: SynthRequest, settings: SynthSettings) -> tuple[Augmentation, int]:
    """The spec applied to this request, and the seed `augment` gets."""
    spec = settings.augment if request.augment == _DEFAULT else request.augment
    if spec == "random":
        spec = random_augmentation(np.random.default_rng(derived_seed(settings.seed, request.id, "augment-draw")))
    elif spec == "none":
        spec = Augmentation()
    else:
        spec = Augmentation.from_dict(spec)
    return spec, derived_seed(settings.seed, request.id, "augment")


def augmentation_of(value: str) -> tuple[Augmentation, int]:
    """A row's `augmentation` column -> (spec, seed): `augment(clean_wave, spec, seed)` rebuilds the row's audio."""
    d = json.loads(value)
    seed = d.pop("seed")
    return Augmentation.from_dict(d), seed


class _Skip(Exception):
    """This request produces no row; `kind` is the counted reason, the message the details."""

    def __init__(self, kind: str, detail: str):
        super().__init__(detail)
        self.kind = kind


def render(request: SynthRequest, settings: SynthSettings) -> dict:
    """One request -> one dataset row (audio as float32 `[samples]` at 16 kHz), or `_Skip`.

    Pure given the TTS voice: disfluency injection -> speech -> augmentation -> length check.
    """
    voice = request.voice or choose_voice(request.id, settings.voices, settings.seed)
    rate = settings.disfluency if request.disfluency is None else request.disfluency
    text = request.text
    if rate > 0:
        text = inject_disfluencies(text, np.random.default_rng(derived_seed(settings.seed, request.id, "disfluency")), rate)
    spec, aug_seed = _augmentation_for(request, settings)
    try:
        wave = render_speech(text, voice, spec, aug_seed, speak)  # this module's `speak`: tests patch it here
    except EngineUnavailable:
        raise
    except AugmentationFailed as error:  # a missing impulse response or noise file
        raise _Skip("augmentation_failed", str(error)) from None
    except ValueError as error:  # empty, emoji-only, nothing the engine can pronounce
        raise _Skip("unspeakable", str(error)) from None
    except RuntimeError as error:  # the engine process failed on this text
        raise _Skip("engine_error", str(error)) from None
    seconds = wave.size / SAMPLING_RATE
    if settings.max_seconds is not None and seconds > settings.max_seconds:
        raise _Skip("too_long", f"{seconds:.1f} s of audio is over the {settings.max_seconds:g} s limit")
    return {"id": request.id, "audio": np.asarray(wave, np.float32), "sampling_rate": SAMPLING_RATE,
            "text": text, "source_text": request.text, "voice": voice,
            "augmentation": json.dumps({**spec.to_dict(), "seed": aug_seed}, sort_keys=True), "seconds": seconds}


# ---- building one shard --------------------------------------------------------------------


def _rows_to_table(rows: list[dict]):
    import pyarrow as pa

    features = audio_features()
    columns = {name: [r[name] for r in rows] for name in features}
    arrays = {name: (list_array(v, np.float32) if name == "audio" else pa.array(v, type=features[name].pa_type))
              for name, v in columns.items()}
    return pa.table(arrays, schema=features.arrow_schema), features


def shard_fingerprint(requests: Sequence[SynthRequest], settings: SynthSettings) -> str:
    """What a shard's content depends on: its requests (in order) and the run settings."""
    h = hashlib.sha256()
    h.update(json.dumps({"format": FORMAT_VERSION, "settings": dataclasses.asdict(settings)}, sort_keys=True).encode())
    for r in requests:
        h.update(json.dumps(r.to_json(), sort_keys=True, ensure_ascii=False).encode("utf-8"))
    return h.hexdigest()


@dataclass
class _ShardJob:
    index: int
    requests: list[SynthRequest]
    settings: SynthSettings
    out_dir: Path
    fingerprint: str


def build_shard(job: _ShardJob, on_item: Callable[[float], None] | None = None) -> dict:
    """Synthesize one shard and write it atomically; returns its record. `on_item(seconds)` after each request."""
    start = time.perf_counter()
    rows, skipped = [], []
    for request in job.requests:
        seconds = 0.0
        try:
            rows.append(render(request, job.settings))
            seconds = rows[-1]["seconds"]
        except _Skip as skip:
            skipped.append({"id": request.id, "line": request.line, "reason": skip.kind, "detail": str(skip)})
        if on_item is not None:
            on_item(seconds)
    failed = [item for item in skipped if item["reason"] == "engine_error"]
    if len(failed) == len(job.requests) >= 5:
        # Not a text problem: the engine itself is broken. Stop rather than record a shard of nothing.
        raise RuntimeError(f"all {len(failed)} requests of shard {job.index} failed in the TTS engine; "
                           f"first error: {failed[0]['detail']}")
    table, features = _rows_to_table(rows)
    voices: dict[str, int] = {}
    for r in rows:
        voices[r["voice"]] = voices.get(r["voice"], 0) + 1
    record = {
        "format": FORMAT_VERSION, "shard": job.index, "fingerprint": job.fingerprint,
        "requests": len(job.requests), "first_line": job.requests[0].line if job.requests else None,
        "ids": [r["id"] for r in rows], "skipped": skipped, "voices": voices,
        "audio_seconds": float(sum(r["seconds"] for r in rows)), "build_seconds": time.perf_counter() - start,
    }
    write_shard_atomically(job.out_dir, job.index, table, features, record)
    return {k: v for k, v in record.items() if k != "ids"}


# Worker processes: progress goes back through a queue set by the pool initializer.
_PROGRESS_QUEUE = None


def _init_worker(progress_queue) -> None:
    global _PROGRESS_QUEUE
    _PROGRESS_QUEUE = progress_queue
    os.environ.setdefault("VOXLM_TTS_THREADS", "1")  # one ONNX thread per process: workers fill the cores


def _build_shard_in_worker(job: _ShardJob) -> dict:
    return build_shard(job, on_item=lambda seconds: _PROGRESS_QUEUE.put(seconds))


# ---- the whole job ---------------------------------------------------------------------------


class _Progress:
    """tqdm over requests with clips/s and real-time factor (wall time / audio time: < 1 is faster than real time)."""

    def __init__(self, total: int, enabled: bool):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, unit="clip", disable=not enabled, dynamic_ncols=True, desc="synth")
        self.start = time.perf_counter()
        self.audio_seconds = 0.0
        self.done = 0

    def update(self, seconds: float) -> None:
        self.done += 1
        self.audio_seconds += seconds
        elapsed = time.perf_counter() - self.start
        # tqdm's own rate is clips/s; the postfix adds audio made and the real-time factor.
        self.bar.set_postfix_str(f"{self.audio_seconds / 60:.1f} min audio, "
                                 f"RTF {elapsed / max(self.audio_seconds, 1e-9):.3f}", refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def _check_engines(voices: Iterable[str]) -> None:
    """Fail before any work if an engine a run needs is not installed, naming what to install."""
    problems = {}
    for name in voices:
        info = voice_info(name)
        if info.engine not in problems:
            reason = info.unavailable_reason()
            if reason:
                problems[info.engine] = reason
    if problems:
        raise EngineUnavailable("; ".join(problems.values()) +
                                " (or choose other voices with --voices, e.g. --voices espeak:en-us,flite:slt)")


def _run_jobs(jobs: list[_ShardJob], num_workers: int, progress: _Progress) -> list[dict]:
    if num_workers <= 1 or len(jobs) <= 1:
        return [build_shard(job, on_item=progress.update) for job in jobs]
    import multiprocessing

    # spawn: workers start clean (no ONNX/torch thread pools inherited from a forked parent).
    ctx = multiprocessing.get_context("spawn")
    progress_queue = ctx.Queue()
    records = []
    with ProcessPoolExecutor(max_workers=min(num_workers, len(jobs)), mp_context=ctx,
                             initializer=_init_worker, initargs=(progress_queue,)) as pool:
        pending = {pool.submit(_build_shard_in_worker, job) for job in jobs}
        try:
            while pending:
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_EXCEPTION)
                _drain(progress_queue, progress)
                for future in done:
                    records.append(future.result())  # re-raises a worker's exception here
        except BaseException:
            # Shards being built finish (they are written atomically or not at all); queued ones are dropped.
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        _drain(progress_queue, progress)
    return records


def _drain(progress_queue, progress: _Progress) -> None:
    while True:
        try:
            progress.update(progress_queue.get_nowait())
        except queue_module.Empty:
            return


def build_manifest(out_dir: Path, requests_path: Path, num_requests: int, shard_size: int,
                   settings: SynthSettings, this_run: dict) -> dict:
    """The dataset's summary, rebuilt from every shard record in `out_dir` (any machine's)."""
    num_shards = math.ceil(num_requests / shard_size)
    records = complete_shard_records(out_dir, num_shards)
    tally = shard_tally(records, num_shards)
    seconds = sum(r["audio_seconds"] for r in records.values())
    build_seconds = sum(r["build_seconds"] for r in records.values())  # CPU-side work, all machines
    splits = {"train": 0, "held_out": 0}
    for v, n in tally["voices"].items():
        splits[voice_split(v)] += n
    return {
        "format": FORMAT_VERSION,
        "requests_file": str(requests_path),
        "requests": num_requests,
        "shard_size": shard_size,
        **tally,
        "clips_by_split": splits,
        "audio_seconds": round(seconds, 3),
        "audio_hours": round(seconds / 3600, 4),
        "synthesis_seconds": round(build_seconds, 3),
        "settings": {**dataclasses.asdict(settings), "voices": list(settings.voices)},
        "columns": list(audio_features()),
        "sampling_rate": SAMPLING_RATE,
        "last_run": this_run,
    }


def synthesize(
    requests_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    voices: str | Sequence[str] = "train",
    seed: int = 0,
    shard_size: int = 256,
    num_workers: int = 1,
    worker_index: int = 0,
    num_machines: int = 1,
    augment: str = "none",
    disfluency: float = 0.0,
    max_seconds: float | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Build (or finish) the speech dataset of `requests_path` in `out_dir`; returns the manifest.

    Arguments mirror `voxlm synth` (see `add_synth_arguments`). Reruns skip finished shards, rebuild
    corrupt or stale ones, and rewrite `manifest.json` from all shard records on disk.
    With `num_workers > 1` the workers are spawned processes: call this from a script under
    `if __name__ == "__main__":` (as for any multiprocessing code), not from `python -c` or stdin.
    """
    wall_start = time.perf_counter()
    log = log or (lambda message: print(message, file=sys.stderr))
    if shard_size < 1:
        raise ValueError(f"shard_size must be positive, got {shard_size}")
    requests_path, out = Path(requests_path), Path(out_dir)
    settings = SynthSettings(resolve_voice_pool(voices), seed, augment, disfluency, max_seconds)
    requests = read_requests(requests_path)
    num_shards = math.ceil(len(requests) / shard_size)
    mine = owned_shards(num_shards, worker_index, num_machines)
    out.mkdir(parents=True, exist_ok=True)

    jobs, reused, rebuilt = [], [], []
    for k in mine:
        chunk = requests[k * shard_size : (k + 1) * shard_size]
        fingerprint = shard_fingerprint(chunk, settings)
        if needs_build(out, k, fingerprint, reused, rebuilt, log):
            jobs.append(_ShardJob(k, chunk, settings, out, fingerprint))

    needed = {r.voice or choose_voice(r.id, settings.voices, seed) for job in jobs for r in job.requests}
    _check_engines(sorted(needed))
    if needed and len({voice_split(v) for v in needed}) > 1:
        log("warning: this run mixes train and held-out voices (see manifest clips_by_split)")

    bar = _Progress(sum(len(j.requests) for j in jobs), progress)
    try:
        records = _run_jobs(jobs, num_workers, bar)
    finally:
        bar.close()
    wall = time.perf_counter() - wall_start
    built_seconds = sum(r["audio_seconds"] for r in records)
    this_run = {
        "worker_index": worker_index, "num_machines": num_machines, "num_workers": num_workers,
        "shards_built": sorted(r["shard"] for r in records), "shards_reused": reused, "shards_rebuilt": rebuilt,
        "clips_built": sum(r["requests"] - len(r["skipped"]) for r in records),
        "audio_seconds_built": round(built_seconds, 3), "wall_seconds": round(wall, 3),
        "real_time_factor": round(wall / built_seconds, 4) if built_seconds else None,
    }
    manifest = build_manifest(out, requests_path, len(requests), shard_size, settings, this_run)
    write_json_atomic(out / MANIFEST, manifest)
    return manifest


# ---- CLI ------------------------------------------------------------------------------------


def add_synth_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of `voxlm synth`, for voxlm/cli.py to attach to its subparser."""
    parser.add_argument("requests", help='JSONL, one {"id", "text", "voice"?, "augment"?, "disfluency"?} per line')
    parser.add_argument("out", help="output folder (shard-00000/ ... and manifest.json)")
    parser.add_argument("--voices", default="train",
                        help="pool for requests that name no voice: train (default), held_out, all, "
                             "or a comma-separated list of names from `voxlm voices`; a term -ENGINE or -VOICE "
                             "drops voices from the ones before it (train,-kokoro: every fast training voice)")
    parser.add_argument("--seed", type=int, default=0, help="seeds voice choice, augmentation and disfluencies")
    parser.add_argument("--shard-size", type=int, default=256, help="requests per shard (default 256)")
    parser.add_argument("--num-workers", type=int, default=1, help="processes on this machine, one shard each at a time")
    parser.add_argument("--worker-index", type=int, default=0, help="this machine's index, 0..num-machines-1")
    parser.add_argument("--num-machines", type=int, default=1, help="machines sharing the job: each takes every m-th shard")
    parser.add_argument("--augment", choices=AUGMENT_POLICIES, default="none",
                        help="for requests without an \"augment\" key: none (default) or random")
    parser.add_argument("--disfluency", type=float, default=0.0,
                        help="disfluency rate for requests without a \"disfluency\" key (default 0)")
    parser.add_argument("--max-seconds", type=float, help="skip clips longer than this (reason too_long)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def run_synth(args: argparse.Namespace) -> int:
    """`voxlm synth`: build the dataset and print a summary; 0 on success."""
    manifest = synthesize(
        args.requests, args.out, voices=args.voices, seed=args.seed, shard_size=args.shard_size,
        num_workers=args.num_workers, worker_index=args.worker_index, num_machines=args.num_machines,
        augment=args.augment, disfluency=args.disfluency, max_seconds=args.max_seconds, progress=not args.quiet,
    )
    run = manifest["last_run"]
    rtf = f", RTF {run['real_time_factor']:.3f}" if run["real_time_factor"] else ""
    print(f"{args.out}: {manifest['clips']} clips, {manifest['audio_hours']:.3f} h of audio in "
          f"{manifest['shards_complete']}/{manifest['shards']} shards; this run built {len(run['shards_built'])} "
          f"shard(s) ({run['clips_built']} clips) in {run['wall_seconds']:.1f} s{rtf}")
    if manifest["skipped"]:
        print(f"skipped {manifest['skipped']}: {manifest['skipped_by_reason']} (details in {Path(args.out) / MANIFEST})")
    if not manifest["complete"]:
        print(f"shards still missing (other machines' or not yet built): {manifest['missing_shards'][:20]}")
    return 0
