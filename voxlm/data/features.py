"""`voxlm features`: frozen Whisper encoder frames, computed once per clip and cached next to the audio.

    voxlm features data/speech --audio-model whisper-tiny.en --batch-size 8
    store = FeatureStore("data/speech")            # or data/speech/features-whisper-tiny.en
    frames = store["fortunes:123"]                 # float16 [frames, dim], trimmed to the real length

The speech encoder is frozen, so its output for a clip never changes: training reads these cached
frames (`VoxLMModel.forward(audio_frames=..., audio_lengths=...)`) instead of spending ~0.4 s per
clip (tiny.en, 2 CPU cores) on the encoder at every epoch.

On disk, for `voxlm synth` output `SYNTH_DIR/`:
    SYNTH_DIR/features-<audio_model>/shard-00000/   one per audio shard, the same rows in the same order
    SYNTH_DIR/features-<audio_model>/features.json  model, dim, counts, clips/s of the last run
    SYNTH_DIR/features-<audio_model>-below-top<N>/  the same, for a model that trains the encoder's top N layers
                                                    (`encoder_trainable_layers`): the frames below those layers
Columns: id, frames (float16 list: the `[num_frames, dim]` matrix flattened row-major), num_frames.
Shards follow the rules of `voxlm.data.shards`: written to a temporary folder and renamed, skipped on
a rerun, rebuilt when unreadable or when their audio shard or the encoder changed.

Frames per clip (the window arithmetic is `voxlm.model.processing_voxlm`'s): the encoder gives 50
frames/s, at most 1500 per 30 s window. A clip longer than 30 s is cut into consecutive 30 s windows
exactly as `VoxLMProcessor.windows` does, each window is encoded on its own at its real length, and
the frames are concatenated: every window but the last contributes exactly 1500 frames, so
`split_windows(frames)` recovers the per-window matrices (one `audio_frames` row each, as the
processor feeds them to the model).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..files import write_json_atomic
from .shards import (
    FORMAT_VERSION,
    MANIFEST,
    SHARD_RECORD,
    check_shard,
    complete_shard_records,
    list_array,
    needs_build,
    owned_shards,
    quiet_datasets,
    read_shard_record,
    shard_name,
    write_shard_atomically,
)

__all__ = [
    "FeatureStore", "AudioStore", "compute_features", "encode_clips", "features_dir",
    "add_features_arguments", "run_features",
]

FEATURES_RECORD = "features.json"


def features_dir(synth_dir: str | os.PathLike, audio_model: str, skip_top: int = 0) -> Path:
    """Where the frames of `audio_model` for a synth folder live: `SYNTH_DIR/features-<name>`, or with `skip_top`
    N (the frames below the top N layers) `SYNTH_DIR/features-<name>-below-top<N>`."""
    return Path(synth_dir) / (f"features-{_model_name(audio_model)}" + (f"-below-top{skip_top}" if skip_top else ""))


def _features_command(synth_dir: Path, folder_name: str) -> str:
    """The `voxlm features` command that makes the features folder `folder_name` of `synth_dir`."""
    model, _, top = folder_name[len("features-"):].partition("-below-top")
    return f"voxlm features {synth_dir} --audio-model {model}" + (f" --encoder-trainable-layers {top}" if top else "")


def _model_name(audio_model: str) -> str:
    """An asset name as is; a local folder by its last component."""
    return Path(audio_model).name if ("/" in audio_model or os.sep in audio_model) else audio_model


# ---- reading Arrow shards without Python lists ----------------------------------------------


class _ListColumn:
    """Row i of a `list<number>` Arrow column as a numpy view of the memory-mapped values (no copy)."""

    def __init__(self, column):
        self.values, self.offsets, self.starts = [], [], [0]
        for chunk in column.chunks:
            # `values` ignores a sliced chunk's offset; `offsets` honours it, so together they are exact.
            self.values.append(chunk.values.to_numpy(zero_copy_only=True))
            self.offsets.append(chunk.offsets.to_numpy())
            self.starts.append(self.starts[-1] + len(chunk))

    def __getitem__(self, row: int) -> np.ndarray:
        c = int(np.searchsorted(self.starts, row, side="right")) - 1
        i = row - self.starts[c]
        off = self.offsets[c]
        return self.values[c][off[i] : off[i + 1]]


class _Shard:
    """One `save_to_disk` folder opened memory-mapped (lazily, so a store pickles to DataLoader workers)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._table = None
        self._columns: dict[str, object] = {}

    @property
    def table(self):
        if self._table is None:
            import datasets

            with quiet_datasets():
                self._table = datasets.load_from_disk(str(self.folder)).data.table
        return self._table

    def list_column(self, name: str) -> _ListColumn:
        if name not in self._columns:
            self._columns[name] = _ListColumn(self.table.column(name))
        return self._columns[name]

    def scalar(self, name: str, row: int):
        return self.table.column(name)[row].as_py()

    def __getstate__(self):
        return {"folder": self.folder}

    def __setstate__(self, state):
        self.__init__(state["folder"])


def _synth_shard_count(synth_dir: Path) -> int:
    """Number of audio shards the synth job has (from its manifest, else the folders present)."""
    try:
        return json.loads((synth_dir / MANIFEST).read_text())["shards"]
    except (OSError, ValueError, KeyError):
        found = [int(p.name.split("-")[1]) for p in synth_dir.glob("shard-[0-9]*") if p.is_dir()]
        return max(found) + 1 if found else 0


class _IdIndex:
    """id -> (shard, row) over the complete shards of a folder."""

    def __init__(self, folder: Path, missing_hint: str):
        self.folder = folder
        self.missing_hint = missing_hint
        self.shards: list[_Shard] = []
        self.records: list[dict] = []
        self.where: dict[str, tuple[int, int]] = {}
        for path in sorted(folder.glob("shard-[0-9]*")):
            record = read_shard_record(path)
            if record is None:  # a shard being replaced, or damaged: `voxlm synth/features` rebuilds it
                continue
            s = len(self.shards)
            self.shards.append(_Shard(path))
            self.records.append(record)
            for row, rid in enumerate(record["ids"]):
                if rid in self.where:
                    raise ValueError(f"id {rid!r} appears twice in {folder} ({self.shards[self.where[rid][0]].folder.name}"
                                     f" and {path.name})")
                self.where[rid] = (s, row)

    def locate(self, rid: str) -> tuple[_Shard, int]:
        try:
            s, row = self.where[rid]
        except KeyError:
            raise KeyError(f"no clip {rid!r} in {self.folder} ({len(self.where)} clips there): "
                           f"{self.missing_hint}") from None
        return self.shards[s], row

    def ids(self) -> list[str]:
        return list(self.where)

    def drop(self, shard: _Shard) -> None:
        s = self.shards.index(shard)
        self.where = {rid: loc for rid, loc in self.where.items() if loc[0] != s}


def _audio_identity(audio_record: dict) -> dict:
    """What a feature shard was computed from: its audio shard's fingerprint and files."""
    return {"fingerprint": audio_record["fingerprint"], "files": audio_record["files"]}


class _IndexedStore:
    """What both stores share: membership, size and ids come from their `_IdIndex`."""

    _index: _IdIndex

    def __contains__(self, rid: object) -> bool:
        return rid in self._index.where

    def __len__(self) -> int:
        return len(self._index.where)

    def ids(self) -> list[str]:
        return self._index.ids()


class FeatureStore(_IndexedStore):
    """Cached encoder frames by clip id, memory-mapped: `store[id]` -> float16 `[frames, dim]`.

    `path` is a features folder (`SYNTH_DIR/features-<model>`) or the synth folder itself (then
    `audio_model` and `skip_top` pick the features folder; `audio_model` is optional when there is only one).
    Picklable: the shards reopen lazily in each DataLoader worker.
    """

    def __init__(self, path: str | os.PathLike, audio_model: str | None = None, skip_top: int = 0):
        path = Path(path)
        if (path / FEATURES_RECORD).is_file() or path.name.startswith("features-"):
            root, synth_dir = path, path.parent
        else:
            synth_dir = path
            found = sorted(p for p in path.glob("features-*") if p.is_dir())
            if audio_model is not None:
                root = features_dir(path, audio_model, skip_top)
            elif len(found) == 1:
                root = found[0]
            elif found:
                raise ValueError(f"{path} has features of several models ({', '.join(p.name for p in found)}): "
                                 f"pass audio_model")
            else:
                root = features_dir(path, "whisper-tiny.en", skip_top)
        self.command = _features_command(synth_dir, root.name if root.name.startswith("features-")
                                         else "features-whisper-tiny.en")
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: no cached encoder features; make them with `{self.command}`")
        self.path = root
        self._index = _IdIndex(root, f"make missing features with `{self.command}` (after `voxlm synth` made the clip)")
        dims = {r["dim"] for r in self._index.records}
        if len(dims) > 1:
            raise ValueError(f"{root}: shards disagree on the frame dimension ({sorted(dims)}); rerun `{self.command}`")
        self.dim: int | None = dims.pop() if dims else None
        expected = _synth_shard_count(synth_dir)
        self.missing_shards = [k for k in range(expected) if not (root / shard_name(k) / SHARD_RECORD).is_file()]
        # Features of an audio shard that was rebuilt since are stale: left out, as if missing.
        self.stale_shards = []
        for shard, record in zip(list(self._index.shards), list(self._index.records)):
            audio = read_shard_record(synth_dir / shard.folder.name)
            if audio is not None and record.get("audio_shard") != _audio_identity(audio):
                self.stale_shards.append(record["shard"])
                self._index.drop(shard)
        if self.stale_shards:
            self._index.missing_hint = (f"shards {self.stale_shards} are stale (their audio was rebuilt); "
                                        + self._index.missing_hint)

    def __getitem__(self, rid: str) -> np.ndarray:
        shard, row = self._index.locate(rid)
        flat = shard.list_column("frames")[row]
        return np.array(flat.reshape(-1, self.dim))  # a writable copy; the view would pin the memory map

    def num_frames(self, rid: str) -> int:
        """Frames of a clip without reading them (for length bucketing)."""
        shard, row = self._index.locate(rid)
        return int(shard.scalar("num_frames", row))

    def __repr__(self) -> str:
        return f"FeatureStore({str(self.path)!r}, {len(self)} clips, dim {self.dim})"


class AudioStore(_IndexedStore):
    """The synthesized clips by id, memory-mapped: `store[id]` -> (wave float32 `[samples]` 16 kHz, text, voice).

    For on-the-fly use (augmenting or encoding at training time) where cached frames do not fit.
    """

    def __init__(self, synth_dir: str | os.PathLike):
        self.path = Path(synth_dir)
        if not self.path.is_dir():
            raise FileNotFoundError(f"{self.path}: no synthesized speech; make it with "
                                    f"`voxlm synth REQUESTS.jsonl {self.path}`")
        self._index = _IdIndex(self.path, f"make missing clips with `voxlm synth REQUESTS.jsonl {self.path}` "
                                          "(skipped requests are listed in its manifest.json)")

    def __getitem__(self, rid: str) -> tuple[np.ndarray, str, str]:
        shard, row = self._index.locate(rid)
        wave = np.array(shard.list_column("audio")[row])
        return wave, shard.scalar("text", row), shard.scalar("voice", row)

    def transcripts(self) -> dict[str, str]:
        """Every clip's text by id (read column-wise, without touching the audio)."""
        return {rid: text for shard, record in zip(self._index.shards, self._index.records)
                for rid, text in zip(record["ids"], shard.table.column("text").to_pylist()) if rid in self}

    def record(self, rid: str) -> dict:
        """Every column of a clip (audio as a float32 array)."""
        shard, row = self._index.locate(rid)
        out = {name: shard.scalar(name, row) for name in shard.table.column_names if name != "audio"}
        out["audio"] = np.array(shard.list_column("audio")[row])
        return out


# ---- computing features ----------------------------------------------------------------------


def encode_clips(waves: Sequence[np.ndarray], encoder, feature_extractor, batch_size: int = 8,
                 device: str | None = None, skip_top: int = 0) -> list[np.ndarray]:
    """16 kHz clips -> their encoder frames, float16 `[encoder frames of the clip, dim]` each.

    Windows (30 s pieces, `VoxLMProcessor.windows`) from all clips go `batch_size` at a time through
    `log_mel` and `run_encoder` (each at its real length; below the top `skip_top` layers) under
    `torch.no_grad`, and a clip's windows are concatenated.
    """
    import torch

    from ..model.modeling_voxlm import run_encoder
    from ..model.processing_voxlm import VoxLMProcessor, encoder_frames, log_mel

    param = next(encoder.parameters())
    device = device or param.device
    windows = [(c, w) for c, wave in enumerate(waves) for w in VoxLMProcessor.windows(np.asarray(wave, np.float32))]
    pieces: list[list[np.ndarray]] = [[] for _ in waves]
    for b in range(0, len(windows), batch_size):
        batch = windows[b : b + batch_size]
        # The same calls as VoxLMModel.encode_audio, so cached frames equal what the model computes from audio.
        mel = torch.from_numpy(log_mel(feature_extractor, [w for _, w in batch])).to(device=device, dtype=param.dtype)
        lengths = torch.tensor([encoder_frames(w.size) for _, w in batch])
        with torch.no_grad():
            hidden = run_encoder(encoder, mel, lengths, skip_top=skip_top)
        hidden = hidden.to(torch.float16).cpu().numpy()  # windows, longest, dim
        for (c, w), h in zip(batch, hidden):
            pieces[c].append(h[: encoder_frames(w.size)])
    dim = encoder.config.d_model
    return [np.concatenate(p) if p else np.zeros((0, dim), np.float16) for p in pieces]


def _encoder_identity(encoder, feature_extractor, skip_top: int = 0) -> str:
    """A hash of the encoder's weights, the feature extractor's settings and how the encoder is run: cached
    frames depend on all three."""
    h = hashlib.sha256(feature_extractor.to_json_string().encode())
    h.update(b"encoder input: real length")  # caches made on 30 s windows (before this tag) are rebuilt
    if skip_top:
        h.update(f"below the top {skip_top} layers".encode())
    for name, tensor in sorted(encoder.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def load_encoder(audio_model: str, device: str | None = None):
    """(WhisperEncoder in eval mode on `device`, WhisperFeatureExtractor) for an asset name or HF Whisper folder."""
    import torch
    from transformers import WhisperFeatureExtractor

    from ..assets import resolve_model_path
    from ..model.modeling_voxlm import load_whisper_encoder

    path = resolve_model_path(audio_model)
    encoder = load_whisper_encoder(path).eval()
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return encoder.to(device), WhisperFeatureExtractor.from_pretrained(path)


def _features_table(ids: list[str], frames: list[np.ndarray]):
    import pyarrow as pa
    from datasets import Features, List, Value

    features = Features({"id": Value("string"), "frames": List(Value("float16")), "num_frames": Value("int32")})
    table = pa.table({
        "id": pa.array(ids, pa.string()),
        "frames": list_array([f.reshape(-1) for f in frames], np.float16),
        "num_frames": pa.array([len(f) for f in frames], pa.int32()),
    }, schema=features.arrow_schema)
    return table, features


def compute_features(
    synth_dir: str | os.PathLike,
    audio_model: str = "whisper-tiny.en",
    *,
    batch_size: int = 8,
    device: str | None = None,
    worker_index: int = 0,
    num_machines: int = 1,
    skip_top: int = 0,
    encoder=None,
    feature_extractor=None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Cache the encoder frames of every clip of `synth_dir`; returns the features record (features.json).

    `skip_top` N caches the frames below the encoder's top N layers, for a model with `encoder_trainable_layers`
    N. `encoder`/`feature_extractor` override loading `audio_model` (which then only names the folder),
    e.g. a tiny random WhisperEncoder in tests. Audio shards that are missing or unreadable are
    reported and left for a later run (after `voxlm synth` finished them).
    """
    from tqdm.auto import tqdm

    log = log or (lambda message: print(message, file=sys.stderr))
    start = time.perf_counter()
    synth = Path(synth_dir)
    if not (synth / MANIFEST).is_file() and not any(synth.glob("shard-[0-9]*")):
        raise FileNotFoundError(f"{synth}: not a `voxlm synth` output folder (no manifest.json, no shard-*/)")
    if encoder is None:
        encoder, loaded_extractor = load_encoder(audio_model, device)
        feature_extractor = feature_extractor or loaded_extractor
    elif feature_extractor is None:
        raise ValueError("pass the feature_extractor that goes with the encoder")
    encoder.eval()
    if not 0 <= skip_top <= len(encoder.layers):
        raise ValueError(f"the encoder has {len(encoder.layers)} layers: cannot cache the frames below its top {skip_top}")
    identity = _encoder_identity(encoder, feature_extractor, skip_top)
    root = features_dir(synth, audio_model, skip_top)
    root.mkdir(parents=True, exist_ok=True)

    num_shards = _synth_shard_count(synth)
    jobs, reused, rebuilt, waiting = [], [], [], []
    for k in owned_shards(num_shards, worker_index, num_machines):
        audio_folder = synth / shard_name(k)
        audio_state = check_shard(audio_folder)
        if audio_state != "ok":
            waiting.append({"shard": k, "audio": audio_state})
            log(f"{audio_folder}: {audio_state}; its features wait for `voxlm synth` to (re)build it")
            continue
        audio_record = read_shard_record(audio_folder)
        fingerprint = hashlib.sha256(json.dumps(
            [FORMAT_VERSION, _audio_identity(audio_record), identity], sort_keys=True).encode()).hexdigest()
        if needs_build(root, k, fingerprint, reused, rebuilt, log, ids=audio_record["ids"]):
            jobs.append((k, audio_folder, audio_record, fingerprint))

    encode_start = time.perf_counter()
    bar = tqdm(total=sum(len(r["ids"]) for _, _, r, _ in jobs), unit="clip", desc="features",
               disable=not progress, dynamic_ncols=True)
    clips = 0
    dim = encoder.config.d_model
    try:
        for k, audio_folder, audio_record, fingerprint in jobs:
            shard_start = time.perf_counter()
            audio = _Shard(audio_folder)
            column = audio.list_column("audio")
            ids = audio_record["ids"]
            frames: list[np.ndarray] = []
            # Encode in slices of clips so the progress bar moves and memory stays at one slice of mels.
            for i in range(0, len(ids), batch_size):
                frames.extend(encode_clips([column[r] for r in range(i, min(i + batch_size, len(ids)))],
                                           encoder, feature_extractor, batch_size, device, skip_top))
                bar.update(min(batch_size, len(ids) - i))
            table, features = _features_table(ids, frames)
            write_shard_atomically(root, k, table, features, {
                "format": FORMAT_VERSION, "shard": k, "fingerprint": fingerprint, "audio_model": audio_model,
                "below_top_layers": skip_top, "encoder": identity, "audio_shard": _audio_identity(audio_record),
                "dim": dim, "dtype": "float16", "ids": ids,
                "frames": int(sum(len(f) for f in frames)), "build_seconds": time.perf_counter() - shard_start,
            })
            clips += len(ids)
    finally:
        bar.close()
    encode_seconds = time.perf_counter() - encode_start
    wall = time.perf_counter() - start
    record = _features_record(root, audio_model, skip_top, identity, dim, num_shards, {
        "worker_index": worker_index, "num_machines": num_machines, "batch_size": batch_size,
        "shards_built": [k for k, *_ in jobs], "shards_reused": reused, "shards_rebuilt": rebuilt,
        "shards_waiting_for_audio": waiting, "clips_encoded": clips, "wall_seconds": round(wall, 3),
        "encode_seconds": round(encode_seconds, 3),  # wall minus loading the encoder and checking shards
        "clips_per_second": round(clips / encode_seconds, 3) if clips else None,
    })
    write_json_atomic(root / FEATURES_RECORD, record)
    return record


def _features_record(root: Path, audio_model: str, skip_top: int, identity: str, dim: int, num_shards: int,
                     this_run: dict) -> dict:
    from ..model.processing_voxlm import FRAMES_PER_SECOND, WINDOW_FRAMES

    records = complete_shard_records(root, num_shards)
    complete = list(records)
    clips = sum(r["rows"] for r in records.values())
    frames = sum(r["frames"] for r in records.values())
    return {
        "format": FORMAT_VERSION, "audio_model": audio_model, "below_top_layers": skip_top, "encoder": identity,
        "dim": dim, "dtype": "float16", "frames_per_second": FRAMES_PER_SECOND, "window_frames": WINDOW_FRAMES,
        "columns": ["id", "frames", "num_frames"],
        "layout": "frames = the [num_frames, dim] matrix flattened row-major; windows of 1500 frames per 30 s",
        "shards": num_shards, "shards_complete": len(complete),
        "missing_shards": [k for k in range(num_shards) if k not in set(complete)],
        "complete": len(complete) == num_shards, "clips": clips, "frames": frames,
        "audio_hours_covered": round(frames / FRAMES_PER_SECOND / 3600, 4),
        "last_run": this_run,
    }


# ---- CLI ------------------------------------------------------------------------------------


def add_features_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of `voxlm features`, for voxlm/cli.py to attach to its subparser."""
    parser.add_argument("synth_dir", help="a `voxlm synth` output folder")
    parser.add_argument("--audio-model", default="whisper-tiny.en",
                        help="speech encoder: an asset name (`voxlm assets --list`) or an HF Whisper folder")
    parser.add_argument("--encoder-trainable-layers", type=int, default=0, metavar="N",
                        help="cache the frames below the encoder's top N layers, for a model that trains them "
                             "(its encoder_trainable_layers; default 0: the encoder's output)")
    parser.add_argument("--batch-size", type=int, default=8, help="30 s windows per encoder call (default 8)")
    parser.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--worker-index", type=int, default=0, help="this machine's index, 0..num-machines-1")
    parser.add_argument("--num-machines", type=int, default=1, help="machines sharing the job: each takes every m-th shard")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def run_features(args: argparse.Namespace) -> int:
    """`voxlm features`: cache encoder frames for a synth folder and print a summary; 0 on success."""
    record = compute_features(args.synth_dir, args.audio_model, batch_size=args.batch_size, device=args.device,
                              worker_index=args.worker_index, num_machines=args.num_machines,
                              skip_top=args.encoder_trainable_layers, progress=not args.quiet)
    run = record["last_run"]
    rate = (f": {run['clips_per_second']:.2f} clips/s over {run['encode_seconds']:.1f} s of encoding"
            if run["clips_per_second"] else "")
    print(f"{features_dir(args.synth_dir, args.audio_model, args.encoder_trainable_layers)}: {record['clips']} clips cached in "
          f"{record['shards_complete']}/{record['shards']} shards; this run encoded {run['clips_encoded']} clips "
          f"in {run['wall_seconds']:.1f} s{rate}")
    if run["shards_waiting_for_audio"]:
        print(f"{len(run['shards_waiting_for_audio'])} audio shard(s) not ready: rerun after `voxlm synth` finishes them")
    return 0
