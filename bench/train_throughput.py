"""Training speed of the real model on this machine: seconds/step, samples/s, peak RSS.

    python bench/train_throughput.py [--batch-sizes 1 4 8] [--clip-seconds 5 10] [--steps 4] [--lora-rank 0] [--kl]
    python bench/train_throughput.py --objective ctc --batch-sizes 16    # connector alignment (no LLM pass)

Each step is a full optimizer step of `Trainer.train_step` (forward, backward, clip, AdamW) on
synthetic batches shaped like real ones: cached encoder frames for a clip of the given length,
a 24-token prompt and a 48-token target (with `--objective ctc`: a transcript of 3 tokens per
second scored against 6,500 candidate tokens, as in the default data). Prints a table and writes
JSON (--out).
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time

import torch

from voxlm.train.config import TrainConfig
from voxlm.train.trainer import Trainer, build_model


def alignment_batch(model, batch_size: int, clip_seconds: float, candidates: int = 6_500) -> dict:
    frames = int(clip_seconds * 50)
    vocab = torch.randperm(model.language_model.config.vocab_size)[:candidates]
    vocab = vocab[vocab != model.blank_token_id].sort().values
    labels = vocab[torch.randint(0, len(vocab), (batch_size, max(1, int(3 * clip_seconds))))]
    return {"audio_frames": torch.randn(batch_size, frames, model.audio_tower.config.d_model),
            "audio_lengths": torch.full((batch_size,), frames), "ctc_labels": labels, "ctc_vocab": vocab}


def synthetic_batch(model, processor, batch_size: int, clip_seconds: float, kl: bool) -> dict:
    frames = int(clip_seconds * 50)
    audio = processor.frames_token_count(frames)
    prompt, target = 24, 48
    ids = torch.randint(100, 1000, (batch_size, prompt + audio + target))
    ids[:, prompt : prompt + audio] = processor.audio_token_id
    labels = torch.full_like(ids, -100)
    labels[:, -target:] = ids[:, -target:]
    batch = {
        "input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels,
        "audio_frames": torch.randn(batch_size, frames, model.audio_tower.config.d_model),
        "audio_lengths": torch.full((batch_size,), frames),
    }
    if kl:  # the teacher reads a transcript of about the same token count as the audio
        text = torch.randint(100, 1000, (batch_size, prompt + audio // 2 + target))
        text[:, -target:] = ids[:, -target:]
        teacher_labels = torch.full_like(text, -100)
        teacher_labels[:, -target:] = text[:, -target:]
        batch.update(teacher_input_ids=text, teacher_attention_mask=torch.ones_like(text), teacher_labels=teacher_labels)
    return batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--clip-seconds", type=float, nargs="+", default=[5.0, 10.0])
    parser.add_argument("--steps", type=int, default=4, help="timed steps per setting (after one warm-up step)")
    parser.add_argument("--lora-rank", type=int, default=0)
    parser.add_argument("--kl", action="store_true", help="add the KL-to-teacher loss (one more LLM forward)")
    parser.add_argument("--objective", choices=["lm", "ctc"], default="lm")
    parser.add_argument("--out")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        config = TrainConfig(output_dir=tmp, model={"lora_rank": args.lora_rank}, kl_weight=1.0 if args.kl else 0.0,
                             objective=args.objective, warmup_steps=1, max_steps=10_000)
        model, processor = build_model(config)
        for batch_size in args.batch_sizes:
            for seconds in args.clip_seconds:
                batch = (alignment_batch(model, batch_size, seconds) if args.objective == "ctc"
                         else synthetic_batch(model, processor, batch_size, seconds, args.kl))
                trainer = Trainer(config, model, processor, [0], None, collate=None, log=lambda *_: None)
                batches = iter(lambda: batch, None)
                trainer.train_step(batches)  # warm-up
                start = time.perf_counter()
                for _ in range(args.steps):
                    trainer.train_step(batches)
                step = (time.perf_counter() - start) / args.steps
                rows.append({"batch_size": batch_size, "clip_seconds": seconds, "tokens": (batch["input_ids"] if "input_ids" in batch else batch["ctc_labels"]).shape[1],
                             "seconds_per_step": round(step, 3), "samples_per_s": round(batch_size / step, 2),
                             "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)})
                print(rows[-1], flush=True)
    result = {"threads": torch.get_num_threads(), "objective": args.objective, "lora_rank": args.lora_rank, "kl": args.kl,
              "rows": rows}
    print(f"\n{'batch':>5} {'clip s':>6} {'tokens':>6} {'s/step':>7} {'samples/s':>9} {'peak RSS MB':>11}")
    for r in rows:
        print(f"{r['batch_size']:>5} {r['clip_seconds']:>6} {r['tokens']:>6} {r['seconds_per_step']:>7} "
              f"{r['samples_per_s']:>9} {r['peak_rss_mb']:>11}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
