"""What the connector hears on held-out speech: token error rate of its greedy CTC transcript.

    python bench/connector_hearing.py [--model CKPT] [--limit 60] [--thresholds 0.3,0.5,0.7,0.9] [--out F.json]

Clips: the `asr` benchmark's own set (built once into $VOXLM_HOME/eval/asr): real human speech (the
Asterisk prompts) and generalize sentences spoken by the held-out voices. For each clip the Whisper
encoder runs two ways,
- `window`: the 30 s window (mel padded to 3000 frames, output trimmed to the clip), as voxlm ran
  the encoder before, and as the default connector's training features were made;
- `clip`: the clip's real length only (`log_mel` + `run_encoder`: the positional embeddings sliced
  to it, as Ultravox runs its encoder), as VoxLM runs it now,
and the connector's positions are decoded greedily over the LLM's whole vocabulary at each blank
threshold. Token error rate = edit distance to the transcript's LLM tokens / their number (as the
alignment stage reports it), word error rate after Whisper's normalisation. Also timed: encoder
clips/s both ways. Prints a table; writes JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from voxlm.assets import voxlm_home
from voxlm.audio.io import load_audio
from voxlm.data.transcripts import edit_distance
from voxlm.eval.asr import build_asr_set, read_asr
from voxlm.eval.metrics import corpus_wer
from voxlm.model import load_voxlm
from voxlm.model.modeling_voxlm import run_encoder
from voxlm.model.processing_voxlm import encoder_frames, log_mel
from voxlm.model.soft_tokens import greedy_ctc


def encode(model, processor, wave, mode: str) -> torch.Tensor:
    """One clip (<= 30 s) -> encoder frames `[frames, dim]` of its real length."""
    frames = encoder_frames(wave.size)
    if mode == "window":  # HF Whisper's own forward on the 30 s pad, as voxlm ran it before
        mel = processor.feature_extractor([wave], sampling_rate=16_000, return_tensors="pt",
                                          padding="max_length").input_features
        return model.audio_tower(mel).last_hidden_state[0, :frames]
    mel = torch.from_numpy(log_mel(processor.feature_extractor, [wave]))  # what VoxLM runs now
    return run_encoder(model.audio_tower, mel, torch.tensor([frames]))[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="VoxLM checkpoint (default: the embedded default)")
    parser.add_argument("--limit", type=int, default=60, help="clips per condition (human, synthetic)")
    parser.add_argument("--thresholds", default="0.3,0.5,0.7,0.9")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    thresholds = [float(t) for t in args.thresholds.split(",")]

    path, _ = build_asr_set(voxlm_home() / "eval" / "asr" / "seed0", limit=args.limit, progress=True)
    items = [i for i in read_asr(path, args.limit).items  # one 30 s window per clip, as alignment trains
             if load_audio(i.audio_parts()[0]["audio"]).size <= 30 * 16_000]
    model, processor = load_voxlm(args.model)
    tokenizer = processor.tokenizer
    blank = model.blank_token_id
    table = {}
    for mode in ("window", "clip"):
        start = time.perf_counter()
        decoded = {t: {} for t in thresholds}
        with torch.no_grad():
            for item in items:
                wave = load_audio(item.audio_parts()[0]["audio"])
                frames = encode(model, processor, wave, mode)
                lengths = torch.tensor([frames.shape[0]])
                logits = model.audio_token_logits(model.encode_audio(lengths, audio_frames=frames[None]))
                for t in thresholds:
                    tokens, keep = greedy_ctc(logits, blank, t, torch.arange(len(logits)) == 0)
                    decoded[t][item.id] = tokens[keep].tolist()
        seconds = time.perf_counter() - start
        for t in thresholds:
            for condition in sorted({i.condition for i in items}):
                subset = [i for i in items if i.condition == condition]
                errors = refs = 0
                for item in subset:
                    ref = [i for i in tokenizer(" " + item.meta["reference"].strip(), add_special_tokens=False).input_ids
                           if i != blank]
                    errors += edit_distance(decoded[t][item.id], ref)
                    refs += len(ref)
                wer = corpus_wer([i.meta["reference"] for i in subset],
                                 [tokenizer.decode(decoded[t][i.id]).strip() for i in subset])
                table[(mode, t, condition)] = {"ter": errors / refs, "wer": wer, "clips": len(subset)}
        table[(mode, "clips_per_s")] = len(items) / seconds
        print(f"{mode}: {len(items)} clips in {seconds:.1f} s ({len(items) / seconds:.2f} clips/s, encoder + connector)",
              flush=True)

    print(f"{'encoder':8} {'threshold':>9} {'condition':>10} {'TER':>7} {'WER':>7}")
    for key, row in table.items():
        if len(key) == 3:
            print(f"{key[0]:8} {key[1]:>9} {key[2]:>10} {row['ter']:7.3f} {row['wer']:7.3f}")
    if args.out:
        Path(args.out).write_text(json.dumps({"model": args.model or "default",
                                              "rows": [{"encoder": k[0], "threshold": k[1], "condition": k[2], **v}
                                                       for k, v in table.items() if len(k) == 3],
                                              "clips_per_s": {k[0]: v for k, v in table.items() if len(k) == 2}},
                                             indent=2))


if __name__ == "__main__":
    main()
