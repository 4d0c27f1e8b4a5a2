"""Corpus-side data steps: `voxlm corpus` (text -> `{id, text}` JSONL) and `voxlm interleave` (InSerter samples).

Both write plain JSONL (atomically) so every later step — `voxlm imitate`, `voxlm synth`,
`voxlm train` — reads files a user could also have written by hand.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

from ..files import read_jsonl, write_jsonl_atomic
from .corpora import SOURCES, Document, corpus, split
from .corpora.sharegpt import instructions
from .interleave import MixConfig, mix_samples

INSTRUCTIONS = "sharegpt-instructions"


def documents(source: str, which: str, min_words: int = 8, max_words: int | None = None, min_prose: float = 0.85):
    """Documents of one split from a corpus source (or ShareGPT user instructions)."""
    if source == INSTRUCTIONS:
        return (d for d in instructions(max_words=max_words or 80) if split(d) == which)
    docs = corpus(source.split(","), min_words=min_words, which=which, min_prose=min_prose)
    return (d for d in docs if max_words is None or len(d.text.split()) <= max_words)


def add_corpus_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help=f"one of {', '.join(sorted(SOURCES))} (comma-separated for several) or {INSTRUCTIONS}")
    parser.add_argument("-o", "--output", required=True, help="JSONL of {id, text} to write")
    parser.add_argument("--split", choices=["train", "held_out"], default="train")
    parser.add_argument("--limit", type=int, help="first N documents")
    parser.add_argument("--min-words", type=int, default=8)
    parser.add_argument("--max-words", type=int, help="skip longer documents (keeps clips short)")
    parser.add_argument("--min-prose", type=float, default=0.85,
                        help="share of characters that must be letters, spaces or punctuation (default 0.85; "
                             "0.6 keeps the number requests of `questions`)")


def run_corpus(args: argparse.Namespace) -> int:
    docs = itertools.islice(documents(args.source, args.split, args.min_words, args.max_words, args.min_prose), args.limit)
    count = write_jsonl_atomic(args.output, ({"id": d.id, "text": d.text, "source": d.source} for d in docs))
    print(f"{count} documents -> {args.output}")
    return 0


def add_interleave_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="corpus source(s), as for `voxlm corpus`, or a JSONL of {id, text}")
    parser.add_argument("--out", required=True, help="folder for samples.jsonl and clips.jsonl")
    parser.add_argument("--split", choices=["train", "held_out"], default="train")
    parser.add_argument("--limit", type=int, help="first N documents")
    parser.add_argument("--max-words", type=int, default=None, help="skip longer documents")
    parser.add_argument("--mix", default="{}", help='MixConfig as JSON, e.g. \'{"interleaved": 0.4, "speech_tasks": 0.3, "text": 0.3}\'')
    parser.add_argument("--seed", type=int, default=0)


def run_interleave(args: argparse.Namespace) -> int:
    """Documents -> InSerter samples (speech spans to synthesize) -> samples.jsonl + clips.jsonl."""
    if Path(args.source).is_file():
        items = read_jsonl(args.source, required=("id", "text"), what="a document")
        docs = (Document(str(i["id"]), i["text"], "file") for _, i in items)
    else:
        docs = documents(args.source, args.split, max_words=args.max_words)
    docs = itertools.islice(docs, args.limit)
    samples, clips = [], {}
    for sample in mix_samples(docs, MixConfig.from_dict(json.loads(args.mix)), args.seed):
        refs = [f"{sample.doc_id}#{i}" for i in range(sample.num_clips)]
        for ref, segment in zip(refs, sample.speech_segments):
            clips[ref] = segment.text
        samples.append(sample.with_audio(refs).to_dict())
    out = Path(args.out)
    write_jsonl_atomic(out / "samples.jsonl", samples)
    write_jsonl_atomic(out / "clips.jsonl", ({"id": ref, "text": text} for ref, text in clips.items()))
    kinds = {k: sum(s["kind"] == k for s in samples) for k in sorted({s["kind"] for s in samples})}
    print(json.dumps({"samples": len(samples), "clips": len(clips), "kinds": kinds}))
    return 0
