"""`voxlm imitate`: MTBI stage 1 — a text LLM answers task prompts over transcripts.

Two kinds of examples come out, both in the examples JSONL the trainer reads:
- `mtbi`: (task prompt, passage) pairs; the passage is spoken (an audio part), or with probability
  `interleave` only part of it is spoken and the rest stays text;
- `instruct`: a whole user instruction is spoken (optionally with a verifiable constraint appended),
  and the target is the text LLM's answer to the written instruction.
Every audio part names a clip whose text goes to `clips.jsonl`, the request file for `voxlm synth`.

Work is done in chunks written atomically to `OUT/parts/`; a rerun skips finished chunks.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Iterator

from ..files import read_jsonl, write_json_atomic, write_jsonl_atomic
from ..tts.text import split_sentences
from .constraints import sample_constraints
from .examples import Example, write_examples
from .seeds import derived_seed
from .tasks import TASKS, sample_prompts


@dataclass
class Plan:
    """An example waiting for its teacher answer."""

    example: Example
    clips: list[tuple[str, str]]  # (clip id, text to speak)
    max_new_tokens: int
    meta: dict = field(default_factory=dict)
    known_answer: str | None = None  # set when no teacher is needed (a transcript is its own answer)


def _audio(clip_id: str, text: str) -> dict:
    return {"type": "audio", "audio": clip_id, "text": text}


def plan_mtbi(passages: Iterable[dict], split: str = "train", per_passage: int = 2, interleave: float = 0.3,
              seed: int = 0) -> Iterator[Plan]:
    """Passages `{id, text}` x task prompts of `split` -> plans, deterministic in (seed, passage id)."""
    for passage in passages:
        pid, text = str(passage["id"]), passage["text"].strip()
        rng = random.Random(derived_seed(seed, pid, "mtbi"))
        for n, (task, wording) in enumerate(sample_prompts(rng, split, per_passage)):
            sentences = split_sentences(text)
            if task != "transcribe" and len(sentences) > 1 and rng.random() < interleave:
                cut = rng.randint(1, len(sentences) - 1)
                head, tail = " ".join(sentences[:cut]), " ".join(sentences[cut:])
                spoken_first = rng.random() < 0.5
                clip = (f"{pid}#head" if spoken_first else f"{pid}#tail", head if spoken_first else tail)
                content = [_audio(*clip), {"type": "text", "text": tail}] if spoken_first else \
                    [{"type": "text", "text": head}, _audio(*clip)]
                variant = "interleaved"
            else:
                clip = (pid, text)
                content, variant = [_audio(*clip)], "speech"
            prompt = {"type": "text", "text": wording}
            content = [prompt, *content] if TASKS[task].before else [*content, prompt]
            example = Example(id=f"{pid}/{task}/{n}", messages=[{"role": "user", "content": content}], response="")
            # The text LLM asked to "transcribe" a transcript can only copy it (or drift): use the gold text.
            known = clip[1] if task == "transcribe" else None
            yield Plan(example, [clip], TASKS[task].max_new_tokens, {"task": task, "variant": variant, "split": split}, known)


def plan_instruct(instructions: Iterable[dict], constraint_rate: float = 0.5, seed: int = 0,
                  max_new_tokens: int = 128) -> Iterator[Plan]:
    """Instructions `{id, text}` -> plans where the whole user turn is spoken."""
    for item in instructions:
        iid, text = str(item["id"]), item["text"].strip()
        rng = random.Random(derived_seed(seed, iid, "instruct"))
        meta = {"task": "instruct", "variant": "speech"}
        if rng.random() < constraint_rate:
            instruction_id, kwargs, sentence = sample_constraints(rng)[0]
            text = f"{text} {sentence}"
            meta.update(instruction_id_list=[instruction_id], kwargs=[kwargs])
        clip = (f"{iid}#instr", text)
        example = Example(id=f"{iid}/instruct", messages=[{"role": "user", "content": [_audio(*clip)]}], response="")
        yield Plan(example, [clip], max_new_tokens, meta)


class Teacher:
    """A text LLM answering chat conversations, batched and greedy, through voxlm's one decoder (`Decoder`)."""

    def __init__(self, model: str, batch_size: int = 8):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from ..assets import resolve_model_path

        path = resolve_model_path(model)
        self.tokenizer = AutoTokenizer.from_pretrained(path)  # no padding: the decoder takes each prompt as it is
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
        self.batch_size = batch_size
        self.generated_tokens = 0

    def answer(self, conversations: list[list[dict]], max_new_tokens: list[int]) -> list[str]:
        import torch

        from ..inference import Decoder, Sampling

        prompts_text = [self.tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True)
                        for c in conversations]
        answers: list[str] = [""] * len(prompts_text)
        order = sorted(range(len(prompts_text)), key=lambda i: len(prompts_text[i]))  # similar lengths pad less
        decoder = Decoder(self.model, [self.tokenizer.eos_token_id], getattr(self.model.config, "max_position_embeddings", None))
        embed = self.model.get_input_embeddings()
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            with torch.no_grad():
                prompts = [embed(torch.tensor(self.tokenizer(prompts_text[i], add_special_tokens=False).input_ids))
                           for i in batch]
            rows = decoder.add(prompts, [Sampling(max_new_tokens=max_new_tokens[i]) for i in batch])
            while len(decoder):
                decoder.step()
            for row, i in zip(rows, batch):
                self.generated_tokens += len(row.tokens)
                answers[i] = self.tokenizer.decode(row.tokens, skip_special_tokens=True).strip()
        return answers


def imitate(plans: Iterable[Plan], teacher: Teacher, out_dir: str | Path, chunk_size: int = 64, progress=True) -> dict:
    """Answer every plan with the teacher; write `examples.jsonl`, `clips.jsonl`, `manifest.json` to `out_dir`."""
    from tqdm.auto import tqdm

    out = Path(out_dir)
    parts = out / "parts"
    parts.mkdir(parents=True, exist_ok=True)
    plans = list(plans)
    start, done_before = time.perf_counter(), 0
    bar = tqdm(total=len(plans), desc="imitate", unit="ex", disable=not progress)
    for index in range(0, len(plans), chunk_size):
        part = parts / f"part-{index // chunk_size:05d}.jsonl"
        chunk = plans[index : index + chunk_size]
        if part.is_file():  # finished by an earlier run
            done_before += len(chunk)
            bar.update(len(chunk))
            continue
        asked = [p for p in chunk if p.known_answer is None]
        replies = iter(teacher.answer([p.example.as_text() for p in asked], [p.max_new_tokens for p in asked]))
        answers = [p.known_answer if p.known_answer is not None else next(replies) for p in chunk]
        records = []
        for plan, answer in zip(chunk, answers):
            record = {**vars(plan.example), "response": answer, **plan.meta}
            records.append(record)
        write_examples(part, records)
        bar.update(len(chunk))
        elapsed = time.perf_counter() - start
        bar.set_postfix(tok_s=f"{teacher.generated_tokens / elapsed:.1f}")
    bar.close()
    elapsed = time.perf_counter() - start

    records = [record for part in sorted(parts.glob("part-*.jsonl")) for _, record in read_jsonl(part)]
    kept = [r for r in records if r["response"]]
    write_examples(out / "examples.jsonl", kept)
    clips = {clip_id: text for p in plans for clip_id, text in p.clips}
    write_jsonl_atomic(out / "clips.jsonl", ({"id": cid, "text": text} for cid, text in clips.items()))
    manifest = {
        "examples": len(kept),
        "empty_answers_dropped": len(records) - len(kept),
        "clips": len(clips),
        "answered_this_run": len(plans) - done_before,
        "seconds": round(elapsed, 1),
        "generated_tokens_this_run": teacher.generated_tokens,
        "tokens_per_s": round(teacher.generated_tokens / elapsed, 1) if elapsed else None,
    }
    write_json_atomic(out / "manifest.json", manifest, indent=2)
    return manifest


def read_items(path: str | Path) -> list[dict]:
    """`{id, text}` JSONL (passages or instructions); a malformed line raises with its number."""
    return [record for _, record in read_jsonl(path, required=("id", "text"), what="a passage or instruction")]


def add_imitate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("items", help="JSONL of {id, text}: passages (mtbi) or instructions (instruct)")
    parser.add_argument("--out", required=True, help="output folder (examples.jsonl, clips.jsonl, manifest.json)")
    parser.add_argument("--mode", choices=["mtbi", "instruct"], default="mtbi")
    parser.add_argument("--split", default="train", help="task-prompt split: train, held_out_prompt, held_out_task")
    parser.add_argument("--per-passage", type=int, default=2, help="task prompts per passage (mtbi)")
    parser.add_argument("--interleave", type=float, default=0.3, help="share of mtbi examples with part of the passage as text")
    parser.add_argument("--constraint-rate", type=float, default=0.5, help="share of instructions given a verifiable constraint")
    parser.add_argument("--teacher", default="qwen2.5-coder-0.5b-instruct", help="asset name or HF folder of the text LLM")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, help="cap every answer at N tokens (default: each task's own limit)")
    parser.add_argument("--limit", type=int, help="use only the first N items")
    parser.add_argument("--seed", type=int, default=0)


def run_imitate(args: argparse.Namespace) -> int:
    items = read_items(args.items)[: args.limit]
    if args.mode == "mtbi":
        plans = plan_mtbi(items, args.split, args.per_passage, args.interleave, args.seed)
    else:
        plans = plan_instruct(items, args.constraint_rate, args.seed)
    if args.max_new_tokens:
        plans = (replace(p, max_new_tokens=min(p.max_new_tokens, args.max_new_tokens)) for p in plans)
    manifest = imitate(plans, Teacher(args.teacher, args.batch_size), args.out)
    print(json.dumps(manifest, indent=2))
    return 0
