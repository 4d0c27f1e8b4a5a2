"""Where a spoken question's audio time goes before the LLM reads it: `SpeechChat.prepare` and `embed`, by part.

    python bench/audio_cost.py [--model CKPT] [--clips 16] [--threads 2] [--out F.json]

Takes the first `--clips` clips of the built instruct benchmark set (`voxlm eval --bench instruct`
builds it; held-out voices), prepares and embeds each as one spoken question, one at a time, and
times the parts of `embed`: the Whisper encoder (real length), the connector, the scoring of every
connector position against the LLM's embedding table (`audio_token_logits`), greedy CTC and the
soft-token mix. This is the per-clip cost that batching answers does not share (docs/batching).
Two clips warm up first and are not counted. Prints ms per clip and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import voxlm.model.modeling_voxlm as modeling
from voxlm.assets import voxlm_home
from voxlm.inference import SpeechChat, audio_question


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="VoxLM checkpoint (default: the embedded default)")
    parser.add_argument("--clips", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sets = sorted((voxlm_home() / "eval" / "instruct").glob("*/audio"))
    if not sets:
        raise SystemExit("no instruct benchmark clips: run `voxlm eval --bench instruct --limit 1` once to build them")
    clips = sorted(sets[0].glob("*.wav"))[: args.clips + 2]
    chat = SpeechChat.load(args.model)
    model, spent = chat.model, {}

    def timed(name, function):
        def run(*a, **k):
            start = time.perf_counter()
            result = function(*a, **k)
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - start
            return result
        return run

    modeling.run_encoder = timed("whisper encoder", modeling.run_encoder)
    model.connector.forward = timed("connector", model.connector.forward)
    model.audio_token_logits = timed("audio_token_logits", model.audio_token_logits)
    modeling.greedy_ctc = timed("greedy_ctc", modeling.greedy_ctc)
    modeling.soft_token_mix = timed("soft_token_mix", modeling.soft_token_mix)
    for clip in clips[:2]:
        chat.embed(chat.prepare(audio_question(str(clip))))
    spent.clear()
    clips = clips[2:]
    start = time.perf_counter()
    prepared = [chat.prepare(audio_question(str(clip))) for clip in clips]
    spent["prepare (load, log-mel)"] = time.perf_counter() - start
    start = time.perf_counter()
    for inputs in prepared:
        chat.embed(inputs)
    spent["embed, all of it"] = time.perf_counter() - start
    positions = sum(int((p["input_ids"] == model.audio_token_id).sum()) for p in prepared)
    seconds = sum(p["audio_lengths"].sum().item() for p in prepared) / 50  # encoder frames are 20 ms
    result = {"clips": len(clips), "audio_seconds_per_clip": seconds / len(clips), "interface": model.config.interface,
              "connector_positions_per_clip": positions / len(clips), "threads": args.threads,
              "ms_per_clip": {k: 1000 * v / len(clips) for k, v in spent.items()}}
    for name, ms in result["ms_per_clip"].items():
        print(f"{name:>26}: {ms:6.1f} ms/clip")
    print(f"{len(clips)} clips, {result['audio_seconds_per_clip']:.1f} s of audio and "
          f"{result['connector_positions_per_clip']:.0f} connector positions a clip")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
