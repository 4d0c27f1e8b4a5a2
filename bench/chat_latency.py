"""End-to-end `voxlm chat` latency on one clip: model load, time-to-first-token, total, tokens/s.

    python bench/chat_latency.py [--model CKPT] [--interface projector|soft_tokens] [--lm-fusion-weight W] [--lm-fusion-beams N] [--cascade]
                                 [--audio FILE] [--seconds 5] [--runs 5] [--out results.json]

Prints a table and writes JSON. The clip is the bundled sample, padded with silence (or cut) to
`--seconds`, so every run answers the same audio. Greedy decoding, 64 new tokens at most. With
`--cascade` each run first transcribes the clip with Whisper (faster-whisper, the eval's cascade)
and the LLM answers the transcript: time to first token then includes the ASR.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from voxlm.audio.io import SAMPLING_RATE, load_audio
from voxlm.eval.baselines import WhisperASR
from voxlm.model import load_voxlm
from voxlm.inference import Reply, SpeechChat, audio_question

SAMPLE = Path(__file__).resolve().parents[1] / "voxlm" / "samples" / "capital_of_france.flac"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model")
    parser.add_argument("--interface", help="projector | soft_tokens (default: the checkpoint's own)")
    parser.add_argument("--lm-fusion-weight", type=float, help="soft tokens: LLM fusion weight (default: the checkpoint's own)")
    parser.add_argument("--lm-fusion-beams", type=int, help="soft tokens: transcripts rescored per clip (default: the checkpoint's own)")
    parser.add_argument("--cascade", action="store_true", help="time Whisper ASR + the same LLM instead")
    parser.add_argument("--audio", default=str(SAMPLE))
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--out")
    args = parser.parse_args()

    wave = load_audio(args.audio)
    n = int(args.seconds * SAMPLING_RATE)
    wave = np.pad(wave, (0, max(0, n - wave.size)))[:n]

    start = time.perf_counter()
    overrides = {k: v for k, v in (("interface", args.interface), ("lm_fusion_weight", args.lm_fusion_weight),
                                   ("lm_fusion_beams", args.lm_fusion_beams)) if v is not None}
    model, processor = load_voxlm(args.model, **overrides)
    asr = WhisperASR.for_encoder(model.config.audio_model) if args.cascade else None
    load_s = time.perf_counter() - start
    engine = SpeechChat(model, processor, max_new_tokens=args.max_new_tokens)

    def ask() -> list[dict]:  # the cascade's ASR runs inside the timed call, as `voxlm eval` times it
        if asr is None:
            return audio_question(wave)
        return [{"role": "user", "content": [{"type": "text", "text": asr(wave)}]}]

    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        checkpoint_mb = sum(f.stat().st_size for f in Path(tmp).iterdir()) / 1e6

    engine.reply(ask())  # warm-up: first call pays one-off allocations
    runs = []
    for _ in range(args.runs):
        reply = Reply(text="", prompt_tokens=0, completion_tokens=0)
        start, first = time.perf_counter(), None
        for _ in engine.stream(ask(), reply=reply):
            first = first or time.perf_counter() - start
        # The stream's own clock starts after the cascade's ASR: time from the clip instead.
        reply.seconds_to_first_token, reply.seconds_total = first, time.perf_counter() - start
        runs.append(reply)
    result = {
        "model": args.model or "default",
        "system": "cascade (Whisper + LLM)" if asr else f"VoxLM ({model.config.interface})",
        "lm_fusion_weight": model.config.lm_fusion_weight,
        "lm_fusion_beams": model.config.lm_fusion_beams,
        "audio_seconds": args.seconds,
        "threads": torch.get_num_threads(),
        "load_seconds": round(load_s, 2),
        "checkpoint_mb": round(checkpoint_mb, 2),
        "ttft_median_s": round(statistics.median(r.seconds_to_first_token for r in runs), 3),
        "total_median_s": round(statistics.median(r.seconds_total for r in runs), 3),
        "completion_tokens_median": statistics.median(r.completion_tokens for r in runs),
        "decode_tokens_per_s": round(
            statistics.median((r.completion_tokens - 1) / (r.seconds_total - r.seconds_to_first_token) for r in runs), 1
        ),
        "runs": args.runs,
    }
    for key, value in result.items():
        print(f"{key:28} {value}")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
