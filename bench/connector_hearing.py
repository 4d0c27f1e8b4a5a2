"""What the connector hears on held-out speech: token error rate of its greedy CTC transcript.

    python bench/connector_hearing.py [--model CKPT [CKPT ...]] [--limit 60] [--thresholds 0.05,0.5]
                                      [--encoder clip|window|both] [--out F.json]

Clips: the `asr` benchmark's own set (built once into $VOXLM_HOME/eval/asr): real human speech (the
Asterisk prompts) and generalize sentences spoken by the held-out voices, none of it in any
training data. For each clip the Whisper encoder runs once per way (`--encoder`),
- `clip`: the clip's real length only (`log_mel` + `run_encoder`: the positional embeddings sliced
  to it, as Ultravox runs its encoder), as VoxLM runs it;
- `window`: the 30 s window (mel padded to 3000 frames, output trimmed to the clip), as voxlm ran
  the encoder before issue 12,
and every checkpoint's connector reads the same frames (they must share the encoder), decoded
greedily over the LLM's whole vocabulary at each blank threshold. Token error rate = edit distance
to the transcript's LLM tokens / their number (as the alignment stage reports it), word error rate
after Whisper's normalisation; both by condition and by held-out voice. Also timed: encoder and
connector clips/s. Prints a table; writes JSON. Compare alignment runs with several `--model`s.
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


def score(items, decoded: dict, tokenizer, blank: int) -> dict:
    """Token and word error rate of `decoded` (item id -> LLM token ids) against the items' references."""
    errors = refs = 0
    for item in items:
        ref = [i for i in tokenizer(" " + item.meta["reference"].strip(), add_special_tokens=False).input_ids
               if i != blank]
        errors += edit_distance(decoded[item.id], ref)
        refs += len(ref)
    wer = corpus_wer([i.meta["reference"] for i in items], [tokenizer.decode(decoded[i.id]).strip() for i in items])
    return {"ter": errors / refs, "wer": wer, "clips": len(items)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", nargs="*", default=[None],
                        help="VoxLM checkpoints sharing one speech encoder (default: the embedded default)")
    parser.add_argument("--limit", type=int, default=60, help="clips per condition (human, synthetic)")
    parser.add_argument("--thresholds", default="0.05,0.5")
    parser.add_argument("--encoder", choices=["clip", "window", "both"], default="clip")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    thresholds = [float(t) for t in args.thresholds.split(",")]
    modes = ["clip", "window"] if args.encoder == "both" else [args.encoder]

    path, _ = build_asr_set(voxlm_home() / "eval" / "asr" / "seed0", limit=args.limit, progress=True)
    items = [i for i in read_asr(path, args.limit).items  # one 30 s window per clip, as alignment trains
             if load_audio(i.audio_parts()[0]["audio"]).size <= 30 * 16_000]
    # Held-out voices one by one; the human recordings are one speaker.
    groups = {c: [i for i in items if i.condition == c] for c in sorted({i.condition for i in items})}
    voices = sorted({i.meta["voice"] for i in items if i.condition != "human" and i.meta["voice"]})
    groups |= {v: [i for i in items if i.meta["voice"] == v] for v in voices}

    rows, speed = [], {}
    encoder_model, processor = load_voxlm(args.model[0])
    for mode in modes:
        start = time.perf_counter()
        with torch.no_grad():
            frames = {i.id: encode(encoder_model, processor, load_audio(i.audio_parts()[0]["audio"]), mode) for i in items}
        speed[f"encoder {mode}"] = len(items) / (time.perf_counter() - start)
        for checkpoint in args.model:
            model = encoder_model if checkpoint == args.model[0] else load_voxlm(checkpoint)[0]
            if model.config.audio_model != encoder_model.config.audio_model:
                raise SystemExit(f"{checkpoint} reads {model.config.audio_model}, not {encoder_model.config.audio_model}: "
                                 "compare checkpoints of one speech encoder")
            name = str(checkpoint or "default")
            decoded = {t: {} for t in thresholds}
            start = time.perf_counter()
            with torch.no_grad():
                for item in items:
                    clip = frames[item.id]
                    logits = model.audio_token_logits(model.encode_audio(torch.tensor([len(clip)]), audio_frames=clip[None]))
                    for t in thresholds:
                        tokens, keep = greedy_ctc(logits, model.blank_token_id, t, torch.arange(len(logits)) == 0)
                        decoded[t][item.id] = tokens[keep].tolist()
            speed[f"connector {name}"] = len(items) / (time.perf_counter() - start)
            for t in thresholds:
                for group, subset in groups.items():
                    rows.append({"model": name, "encoder": mode, "threshold": t, "group": group,
                                 **score(subset, decoded[t], processor.tokenizer, model.blank_token_id)})

    print(" | ".join(f"{k} {v:.2f} clips/s" for k, v in speed.items()))
    print(f"{'model':32} {'encoder':7} {'threshold':>9} {'group':>26} {'clips':>5} {'TER':>6} {'WER':>6}")
    for r in rows:
        print(f"{r['model'][-32:]:32} {r['encoder']:7} {r['threshold']:>9} {r['group']:>26} {r['clips']:>5} "
              f"{r['ter']:6.3f} {r['wer']:6.3f}")
    if args.out:
        Path(args.out).write_text(json.dumps({"models": [str(m or "default") for m in args.model], "rows": rows,
                                              "clips_per_s": speed}, indent=2))


if __name__ == "__main__":
    main()
