"""Throughput of the speech data engine: synthesis per TTS engine, feature caching, cached-feature reads.

    python bench/data_throughput.py [--engines espeak,flite,piper,hibari,kokoro] [--clips 8]
                                    [--workers 2] [--feature-clips 16] [--read-clips 512] [--out results.json]

1. synth: `synthesize()` of `--clips` sentences per engine (its train voices, no augmentation) with
   `--workers` processes; audio seconds per wall second end to end (process start and model load
   included, as a user sees it) and per busy second (summed shard build time: the steady rate).
2. features: `compute_features()` with the real Whisper tiny.en on `--feature-clips` espeak clips
   (batch 8): clips/s.
3. read: random-order `FeatureStore[id]` over a store of `--read-clips` clips of 5 s
   (250 x 384 float16 frames, random values, written with the real shard writer): samples/s and
   MB/s, plus the same through a `torch.utils.data.DataLoader` that pads a batch of 16.
Prints a table and writes JSON. Everything runs in a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SENTENCES = [
    "The meeting has been moved to Thursday afternoon at three.",
    "Please remember to water the plants while I am away.",
    "A quick brown fox jumps over the lazy dog near the river bank.",
    "Turn left at the second traffic light, then keep going straight.",
    "The museum opens at nine in the morning and closes at six.",
    "Could you summarize the main points of the report in two sentences?",
    "Rain is expected later today, so bring an umbrella with you.",
    "She bought three apples, two oranges and a loaf of fresh bread.",
    "The train to the airport leaves every twenty minutes from platform four.",
    "Write a short poem about the sea, in exactly four lines.",
    "Our new phone number is five five five, one two three four.",
    "The library will be closed next Monday for the public holiday.",
    "He said the results would be ready by the end of the week.",
    "Mix the flour and the butter, then add two eggs and a cup of milk.",
    "What is the capital of France? Answer in one word.",
    "The quarterly numbers were better than anyone had expected.",
]


def bench_synth(engines: list[str], clips: int, workers: int, tmp: Path) -> list[dict]:
    from voxlm.data.synth import synthesize
    from voxlm.tts import list_voices, voice_info

    rows = []
    for engine in engines:
        voices = list_voices(engine=engine, split="train")
        reason = voice_info(voices[0]).unavailable_reason()
        if reason:
            rows.append({"engine": engine, "skipped": reason})
            continue
        requests = tmp / f"{engine}.jsonl"
        requests.write_text("".join(json.dumps({"id": f"{engine}-{i}", "text": SENTENCES[i % len(SENTENCES)]}) + "\n"
                                    for i in range(clips)))
        out = tmp / f"synth-{engine}"
        start = time.perf_counter()
        manifest = synthesize(requests, out, voices=voices, shard_size=max(1, -(-clips // workers)),
                              num_workers=workers, progress=False, log=lambda m: None)
        wall = time.perf_counter() - start
        audio = manifest["audio_seconds"]
        busy = manifest["synthesis_seconds"]
        rows.append({"engine": engine, "clips": manifest["clips"], "audio_seconds": audio, "wall_seconds": round(wall, 2),
                     "audio_s_per_wall_s": round(audio / wall, 2), "audio_s_per_busy_s_per_worker": round(audio / busy, 2),
                     "skipped": manifest["skipped"]})
        print(f"synth {engine:7s} {manifest['clips']:3d} clips {audio:6.1f} s audio in {wall:6.1f} s wall: "
              f"{audio / wall:6.2f} audio s/s ({audio / busy:.2f} per busy worker)", flush=True)
    return rows


def bench_features(clips: int, tmp: Path) -> dict:
    from voxlm.data.features import compute_features
    from voxlm.data.synth import synthesize

    requests = tmp / "features.jsonl"
    requests.write_text("".join(json.dumps({"id": f"f{i}", "text": SENTENCES[i % len(SENTENCES)]}) + "\n"
                                for i in range(clips)))
    synthesize(requests, tmp / "synth-features", voices="espeak:en-us,espeak:en-gb,flite:slt", shard_size=clips,
               progress=False, log=lambda m: None)
    from voxlm.data.features import load_encoder

    load_start = time.perf_counter()
    encoder, extractor = load_encoder("whisper-tiny.en", "cpu")
    load_seconds = time.perf_counter() - load_start
    record = compute_features(tmp / "synth-features", "whisper-tiny.en", batch_size=8, encoder=encoder,
                              feature_extractor=extractor, progress=False, log=lambda m: None)
    run = record["last_run"]
    print(f"features tiny.en: {run['clips_encoded']} clips in {run['encode_seconds']:.1f} s = "
          f"{run['clips_per_second']:.2f} clips/s (encoder load {load_seconds:.1f} s, not included)", flush=True)
    return {"audio_model": "whisper-tiny.en", "clips": run["clips_encoded"], "encode_seconds": run["encode_seconds"],
            "clips_per_second": run["clips_per_second"], "encoder_load_seconds": round(load_seconds, 2)}


def _fake_feature_store(root: Path, clips: int, frames: int, dim: int, shard_size: int = 256) -> None:
    from voxlm.data.features import _features_table
    from voxlm.data.shards import write_shard_atomically

    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    for k in range(-(-clips // shard_size)):
        ids = [f"x{i}" for i in range(k * shard_size, min(clips, (k + 1) * shard_size))]
        mats = [rng.standard_normal((frames, dim)).astype(np.float16) for _ in ids]
        table, features = _features_table(ids, mats)
        write_shard_atomically(root, k, table, features, {"format": 1, "shard": k, "fingerprint": "bench", "ids": ids,
                                                          "dim": dim, "frames": frames * len(ids), "build_seconds": 0})


def bench_read(clips: int, tmp: Path) -> dict:
    import torch

    from voxlm.data.features import FeatureStore

    frames, dim = 250, 384
    root = tmp / "read" / "features-bench"
    _fake_feature_store(root, clips, frames, dim)
    open_start = time.perf_counter()
    store = FeatureStore(root)
    order = np.random.default_rng(0).permutation(store.ids())
    store[order[0]]  # opens the shards (memory map)
    open_seconds = time.perf_counter() - open_start
    start = time.perf_counter()
    for rid in order:
        store[rid]
    plain = len(order) / (time.perf_counter() - start)

    class Clips(torch.utils.data.Dataset):
        def __len__(self):
            return len(order)

        def __getitem__(self, i):
            return torch.from_numpy(store[order[i]])

    def pad(batch):
        lengths = torch.tensor([len(x) for x in batch])
        return torch.nn.utils.rnn.pad_sequence(batch, batch_first=True), lengths

    loader = torch.utils.data.DataLoader(Clips(), batch_size=16, shuffle=True, collate_fn=pad)
    # Collation is a memory copy: one torch thread, as in DataLoader workers. With two threads on two
    # busy cores, torch's thread pool hand-off alone cost ~120 ms per 3 MB batch in our runs.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        start = time.perf_counter()
        n = sum(len(lengths) for _, lengths in loader)
        batched = n / (time.perf_counter() - start)
    finally:
        torch.set_num_threads(threads)
    mb = frames * dim * 2 / 1e6
    print(f"read: {clips} clips of {frames}x{dim} fp16: open {open_seconds * 1000:.0f} ms; random access "
          f"{plain:,.0f} samples/s ({plain * mb:,.0f} MB/s); DataLoader batch 16 (padding) {batched:,.0f} samples/s",
          flush=True)
    return {"clips": clips, "frames": frames, "dim": dim, "open_seconds": round(open_seconds, 3),
            "random_access_samples_per_s": round(plain), "random_access_mb_per_s": round(plain * mb),
            "dataloader_samples_per_s": round(batched)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="espeak,flite,piper,hibari,kokoro")
    parser.add_argument("--clips", type=int, default=8, help="sentences per engine")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--feature-clips", type=int, default=16, help="0 skips the feature benchmark")
    parser.add_argument("--read-clips", type=int, default=512, help="0 skips the read benchmark")
    parser.add_argument("--out")
    args = parser.parse_args()

    results = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "platform": platform.platform()},
               "args": vars(args)}
    with tempfile.TemporaryDirectory(prefix="voxlm-bench-") as tmp:
        tmp = Path(tmp)
        engines = [e for e in args.engines.split(",") if e]
        results["synth"] = bench_synth(engines, args.clips, args.workers, tmp) if engines else []
        if args.feature_clips:
            results["features"] = bench_features(args.feature_clips, tmp)
        if args.read_clips:
            results["read"] = bench_read(args.read_clips, tmp)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
