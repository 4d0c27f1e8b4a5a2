"""What the connector hears on held-out speech: token error rate of its greedy CTC transcript.

    python bench/connector_hearing.py [--model CKPT [CKPT ...]] [--limit 60] [--thresholds 0.05,0.5]
                                      [--encoder clip|window|both] [--vocab-from JSONL ... --min-counts 10,30]
                                      [--lm-fusion-weights 0.3,0.6 --lm-fusion-beams 1,8] [--whisper]
                                      [--out F.json]

Clips: the `asr` benchmark's own set (built once into $VOXLM_HOME/eval/asr): real human speech (the
Asterisk prompts) and generalize sentences spoken by the held-out voices, none of it in any
training data. For each clip the Whisper encoder runs once per way (`--encoder`),
- `clip`: the clip's real length only (`log_mel` + `run_encoder`: the positional embeddings sliced
  to it, as Ultravox runs its encoder), as VoxLM runs it;
- `window`: the 30 s window (mel padded to 3000 frames, output trimmed to the clip), as voxlm ran
  the encoder before issue 12,
and every checkpoint's connector reads the same frames (they must share the encoder; a checkpoint that
trained the encoder's top N layers reads the frames below them, and runs its own top layers), decoded
greedily over the LLM's whole vocabulary at each blank threshold. Token error rate = edit distance
to the transcript's LLM tokens / their number (as the alignment stage reports it), word error rate
after Whisper's normalisation; both by condition and by held-out voice. Also timed: encoder and
connector clips/s. `--whisper` adds Whisper's own decoder on the same clips (what the frozen encoder
allows its own decoder). Prints a table; writes JSON. Compare alignment runs with several `--model`s.

`--vocab-from` (JSONL files with a `text` field, e.g. the training text) adds decodings over a smaller
vocabulary: only the tokens that occur at least N times there (`--min-counts`), with the share of
reference tokens that vocabulary cannot say. A smaller scoring table would make the soft-token
step several times cheaper (docs/batching: scoring is 92 of the 238 ms a clip costs); this measures
what it costs in hearing.

`--lm-fusion-weights` adds decodings with the LLM fused in (`lm_fusion_weight`, docs/fusion): the model's
own `transcribe` of the clip as a user's chat message, so the LLM reads the chat template before it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import torch

from voxlm.assets import voxlm_home
from voxlm.audio.io import load_audio
from voxlm.data.transcripts import edit_distance
from voxlm.eval.asr import build_asr_set, read_asr
from voxlm.eval.baselines import WhisperASR
from voxlm.eval.metrics import corpus_wer
from voxlm.model import load_voxlm, num_audio_tokens
from voxlm.model.modeling_voxlm import run_encoder
from voxlm.model.processing_voxlm import encoder_frames, log_mel
from voxlm.model.soft_tokens import greedy_ctc


def encode(model, processor, wave, mode: str) -> torch.Tensor:
    """One clip (<= 30 s) -> encoder frames `[frames, dim]` of its real length, below the top layers `model`
    trains (`encoder_trainable_layers`): what its `encode_audio` reads as `audio_frames`."""
    frames = encoder_frames(wave.size)
    skip_top = model.config.encoder_trainable_layers
    if mode == "window":  # HF Whisper's own forward on the 30 s pad, as voxlm ran it before
        if skip_top:
            raise SystemExit("--encoder window compares checkpoints whose encoder is frozen")
        mel = processor.feature_extractor([wave], sampling_rate=16_000, return_tensors="pt",
                                          padding="max_length").input_features
        return model.audio_tower(mel).last_hidden_state[0, :frames]
    mel = torch.from_numpy(log_mel(processor.feature_extractor, [wave]))  # what VoxLM runs now
    return run_encoder(model.audio_tower, mel, torch.tensor([frames]), skip_top=skip_top)[0]


def score(items, decoded: dict, tokenizer, blank: int, allowed: torch.Tensor | None) -> dict:
    """Token and word error rate of `decoded` (item id -> LLM token ids) against the items' references, and the
    share of reference tokens outside the `allowed` vocabulary."""
    errors = refs = unsayable = 0
    for item in items:
        ref = [i for i in tokenizer(" " + item.meta["reference"].strip(), add_special_tokens=False).input_ids
               if i != blank]
        errors += edit_distance(decoded[item.id], ref)
        refs += len(ref)
        unsayable += 0 if allowed is None else int((~allowed[ref]).sum())
    wer = corpus_wer([i.meta["reference"] for i in items], [tokenizer.decode(decoded[i.id]).strip() for i in items])
    return {"ter": errors / refs, "wer": wer, "clips": len(items), "outside_vocab": unsayable / refs}


def fused_transcripts(model, processor, frames: dict, thresholds: list[float], weights: list[float],
                       beams: list[int]) -> dict:
    """`{("all", threshold, weight, beams): {item id: token ids}}`: the model's own `transcribe` of each clip's frames
    as a user's chat message, with `lm_fusion_weight` and `lm_fusion_beams` set to each weight and number of beams
    (and `blank_threshold` to each threshold)."""
    turn = [{"role": "user", "content": [{"type": "audio", "audio": None}]}]
    prompt = processor.apply_chat_template(turn, add_generation_prompt=False)[0]
    settings = ("blank_threshold", "lm_fusion_weight", "lm_fusion_beams")
    saved = [getattr(model.config, k) for k in settings]
    out = {}
    try:
        for t, w, b in itertools.product(thresholds, weights, beams):
            for key, value in zip(settings, (t, w, b)):
                setattr(model.config, key, value)
            heard = out.setdefault(("all", t, w, b), {})
            for item_id, clip in frames.items():
                lengths = torch.tensor([len(clip)])
                positions = num_audio_tokens(len(clip), model.config.stack_factor)
                ids = processor.encode_text([prompt], [positions])["input_ids"]
                heard[item_id] = model.transcribe(ids, audio_frames=clip[None], audio_lengths=lengths)[0]
    finally:
        for key, value in zip(settings, saved):
            setattr(model.config, key, value)
    return out


def vocabularies(files: list[str], min_counts: list[int], tokenizer, size: int, blank: int) -> dict:
    """`{"all": None, ">=N": allowed [size] bool}`: the tokens occurring at least N times in the files' texts."""
    counts = torch.zeros(size, dtype=torch.long)
    for name in files:
        with open(name, encoding="utf-8") as f:
            for line in f:
                ids = tokenizer(" " + json.loads(line)["text"], add_special_tokens=False).input_ids
                counts += torch.bincount(torch.tensor(ids, dtype=torch.long), minlength=size)[:size]
    out = {"all": None}
    for n in min_counts:
        allowed = counts >= n
        allowed[blank] = True
        out[f">={n}"] = allowed
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", nargs="*", default=[None],
                        help="VoxLM checkpoints sharing one speech encoder (default: the embedded default)")
    parser.add_argument("--limit", type=int, default=60, help="clips per condition (human, synthetic)")
    parser.add_argument("--thresholds", default="0.05,0.5")
    parser.add_argument("--encoder", choices=["clip", "window", "both"], default="clip")
    parser.add_argument("--vocab-from", nargs="*", default=[], metavar="JSONL",
                        help="also decode over the tokens occurring --min-counts times in these texts")
    parser.add_argument("--min-counts", default="10,30")
    parser.add_argument("--lm-fusion-weights", default="",
                        help="also decode with the LLM fused in at these weights (whole vocabulary only)")
    parser.add_argument("--lm-fusion-beams", default="1",
                        help="with --lm-fusion-weights: fuse with each of these numbers of beams (1: position by position)")
    parser.add_argument("--whisper", action="store_true",
                        help="also score Whisper's own decoder (the cascade's ASR, same size as the encoder) on the clips")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    thresholds = [float(t) for t in args.thresholds.split(",")]
    fusions = [float(w) for w in args.lm_fusion_weights.split(",") if w]
    beams = [int(b) for b in args.lm_fusion_beams.split(",")]
    modes = ["clip", "window"] if args.encoder == "both" else [args.encoder]

    path, _ = build_asr_set(voxlm_home() / "eval" / "asr" / "seed0", limit=args.limit, progress=True)
    items = [i for i in read_asr(path, args.limit).items  # one 30 s window per clip, as alignment trains
             if load_audio(i.audio_parts()[0]["audio"]).size <= 30 * 16_000]
    # Held-out voices one by one; the human recordings are one speaker.
    groups = {c: [i for i in items if i.condition == c] for c in sorted({i.condition for i in items})}
    voices = sorted({i.meta["voice"] for i in items if i.condition != "human" and i.meta["voice"]})
    groups |= {v: [i for i in items if i.meta["voice"] == v] for v in voices}

    rows, speed = [], {}
    min_counts = [int(n) for n in args.min_counts.split(",")] if args.vocab_from else []
    encoder_model, processor = load_voxlm(args.model[0])
    # Each checkpoint loaded once (not once per encoder way), each scored with its own tokenizer.
    models = [(str(args.model[0] or "default"), encoder_model, processor.tokenizer)]
    for checkpoint in args.model[1:]:
        model, model_processor = load_voxlm(checkpoint)
        if model.config.audio_model != encoder_model.config.audio_model:
            raise SystemExit(f"{checkpoint} reads {model.config.audio_model}, not {encoder_model.config.audio_model}: "
                             "compare checkpoints of one speech encoder")
        if args.vocab_from and model.config.text_model != encoder_model.config.text_model:
            raise SystemExit("--vocab-from compares checkpoints of one LLM (its token counts are per tokenizer)")
        models.append((str(checkpoint), model, model_processor.tokenizer))
    # The LLM's vocabulary, hence these masks, is the same for every checkpoint (checked above when it matters).
    vocabs = vocabularies(args.vocab_from, min_counts, processor.tokenizer,
                          encoder_model.language_model.get_input_embeddings().weight.shape[0],
                          encoder_model.blank_token_id)
    # The frozen layers are the same pretrained ones in every checkpoint: one set of frames per number of top
    # layers trained, made by a checkpoint that trains that many (so with 0, by a wholly pretrained encoder).
    by_skip = {m.config.encoder_trainable_layers: m for _, m, _ in reversed(models)}
    for mode in modes:
        frames = {}
        for skip_top, model in sorted(by_skip.items()):
            start = time.perf_counter()
            with torch.no_grad():
                frames[skip_top] = {i.id: encode(model, processor, load_audio(i.audio_parts()[0]["audio"]), mode)
                                    for i in items}
            speed[f"encoder {mode}" + (f" below top {skip_top}" if skip_top else "")] = (
                len(items) / (time.perf_counter() - start))
        for name, model, tokenizer in models:
            decoded = {(v, t): {} for v in vocabs for t in thresholds}
            start = time.perf_counter()
            with torch.no_grad():
                for item in items:
                    clip = frames[model.config.encoder_trainable_layers][item.id]
                    logits = model.audio_token_logits(model.encode_audio(torch.tensor([len(clip)]), audio_frames=clip[None]))
                    for v, allowed in vocabs.items():
                        scored = logits if allowed is None else logits.masked_fill(~allowed, float("-inf"))
                        for t in thresholds:
                            tokens, keep = greedy_ctc(scored, model.blank_token_id, t, torch.arange(len(logits)) == 0)
                            decoded[v, t][item.id] = tokens[keep].tolist()
            speed[f"connector {name}"] = len(items) / (time.perf_counter() - start)
            decoded = {(v, t, 0.0, 1): heard for (v, t), heard in decoded.items()}
            if fusions:
                start = time.perf_counter()
                decoded |= fused_transcripts(model, processor, frames[model.config.encoder_trainable_layers],
                                             thresholds, fusions, beams)
                speed[f"connector + LLM fusion {name}"] = len(items) * len(thresholds) * len(fusions) * len(beams) / (
                    time.perf_counter() - start)
            for (v, t, w, b), heard in decoded.items():
                for group, subset in groups.items():
                    rows.append({"model": name, "encoder": mode, "threshold": t, "vocab": v, "lm_fusion_weight": w,
                                 "lm_fusion_beams": b,                                 "vocab_size": int(vocabs[v].sum()) if vocabs[v] is not None else None, "group": group,
                                 **score(subset, heard, tokenizer, model.blank_token_id, vocabs[v])})

    if args.whisper:  # the ceiling the encoder allows: its own decoder, read back as the LLM's tokens
        asr = WhisperASR.for_encoder(encoder_model.config.audio_model, cpu_threads=args.threads)
        start = time.perf_counter()
        heard = {i.id: processor.tokenizer(" " + asr(load_audio(i.audio_parts()[0]["audio"])).strip(),
                                           add_special_tokens=False).input_ids for i in items}
        speed["whisper decoder"] = len(items) / (time.perf_counter() - start)
        for group, subset in groups.items():
            rows.append({"model": f"whisper {encoder_model.config.audio_model} (own decoder)", "encoder": "-",
                         "threshold": "-", "vocab": "all", "lm_fusion_weight": 0.0, "lm_fusion_beams": 1,
                         "vocab_size": None, "group": group,
                         **score(subset, heard, processor.tokenizer, encoder_model.blank_token_id, None)})
    print(" | ".join(f"{k} {v:.2f} clips/s" for k, v in speed.items()))
    print(f"{'model':32} {'encoder':7} {'threshold':>9} {'vocab':>6} {'fusion':>6} {'group':>26} {'clips':>5} {'TER':>6}"
          f" {'WER':>6} {'unsayable':>9}")
    for r in rows:
        print(f"{r['model'][-32:]:32} {r['encoder']:7} {r['threshold']:>9} {r['vocab']:>6} {r['lm_fusion_weight']:>4}x{r['lm_fusion_beams']:<2}"
              f"{r['group']:>26} {r['clips']:>5} "
              f"{r['ter']:6.3f} {r['wer']:6.3f} {r['outside_vocab']:9.3f}")
    if args.out:
        Path(args.out).write_text(json.dumps({"models": [str(m or "default") for m in args.model], "rows": rows,
                                              "clips_per_s": speed}, indent=2))


if __name__ == "__main__":
    main()
