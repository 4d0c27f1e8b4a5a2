"""Subsets of JSONL files: `voxlm split-jsonl` (shuffle, then cut into named parts) and `voxlm select` (synth requests by rule).

    voxlm split-jsonl all_passages.jsonl mtbi.jsonl:400 inserter.jsonl:1000 eval.jsonl:100 --seed 0
    voxlm split-jsonl inserter/samples.jsonl inserter/train.jsonl --require-text-after-speech
    voxlm select all_sharegpt.jsonl -o chunks.jsonl --seed 2 --limit 1600 --plain --chunk 15:45 --id-suffix '#chunk'

`split-jsonl` keeps whole records; `select` writes `{"id", "text"}` requests for `voxlm synth`:
a record's text whole, or an excerpt of its sentences (`--chunk`, `--around-match`), when it
passes the filters. A seed shuffles the records with `random.Random(seed)` before anything is
taken, so the same seed on the same file gives the same subset. Both write non-ASCII characters
as `\\u` escapes, as `json.dumps` does by default: the files recipes/default-data.sh builds with
them stay byte-for-byte those it built before these verbs existed.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..files import read_jsonl, write_jsonl_atomic
from ..tts.text import split_sentences
from .corpora.text import item_id
from .interleave import InterleavedSample

CODE_CHARACTERS = "{}[]<>=_#*|\\`/"  # code and markup read badly and teach nothing


def is_plain(text: str) -> bool:
    """No character of code or markup (`CODE_CHARACTERS`): text that reads aloud as it is written."""
    return not any(c in text for c in CODE_CHARACTERS)


def _records(path: str | Path, seed: int | None, required: Sequence[str] = ()) -> list[dict]:
    records = [record for _, record in read_jsonl(path, required)]
    if seed is not None:
        random.Random(seed).shuffle(records)
    return records


# ---- split-jsonl -------------------------------------------------------------------------------


def parse_part(spec: str) -> tuple[str, int | None]:
    """"PATH:N" -> (PATH, N); "PATH" -> (PATH, None), the rest of the records."""
    path, sep, count = spec.rpartition(":")
    if sep and count.isdigit():
        return path, int(count)
    return spec, None


def split_jsonl(source: str | Path, parts: Sequence[tuple[str | Path, int | None]], seed: int | None = None,
                require_text_after_speech: bool = False) -> list[int]:
    """Write consecutive runs of `source`'s records (shuffled when `seed` is given) to each part's path.

    A part `(path, n)` takes the next `n` records, `(path, None)` all that are left (last part only);
    a part gets fewer when the records run out. With `require_text_after_speech`, only InSerter
    samples with labelled text after their first speech are kept (`InterleavedSample.has_text_after_speech`),
    before the cutting. Returns the number of records each part got.
    """
    if not parts:
        raise ValueError("name at least one part: PATH:N (N records) or PATH (the rest)")
    if any(n is None for _, n in parts[:-1]):
        raise ValueError("only the last part may take the rest (PATH without :N)")
    records = _records(source, seed)
    if require_text_after_speech:
        records = [r for r in records if _sample(source, r).has_text_after_speech]
    counts, start = [], 0
    for path, n in parts:
        end = len(records) if n is None else start + n
        # \u escapes: see the module docstring.
        counts.append(write_jsonl_atomic(path, records[start:end], ensure_ascii=True))
        start = end
    return counts


def _sample(source, record: dict) -> InterleavedSample:
    try:
        return InterleavedSample.from_dict(record)
    except (KeyError, TypeError) as error:
        raise ValueError(f"{source}: record {record.get('doc_id', record.get('id'))!r} is not an InSerter sample "
                         f"(`voxlm interleave` writes them): {error}") from None


def add_split_jsonl_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="JSONL file to cut")
    parser.add_argument("parts", nargs="+", metavar="PATH[:N]",
                        help="output files in order, each taking the next N records (the last may omit :N: the rest)")
    parser.add_argument("--seed", type=int, help="shuffle the records with random.Random(SEED) first (default: keep their order)")
    parser.add_argument("--require-text-after-speech", action="store_true",
                        help="keep only InSerter samples whose first speech is followed by labelled text "
                             "(with the LLM frozen, no other sample trains the connector)")


def run_split_jsonl(args: argparse.Namespace) -> int:
    parts = [parse_part(p) for p in args.parts]
    counts = split_jsonl(args.source, parts, args.seed, args.require_text_after_speech)
    for (path, wanted), got in zip(parts, counts):
        short = wanted is not None and got < wanted
        print(f"{path}: {got} records" + (f" (asked for {wanted}: {args.source} ran out)" if short else ""),
              file=sys.stderr if short else sys.stdout)
    return 0


# ---- select --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TextFilter:
    """What a text (a record's, a sentence, an excerpt) must be to be kept."""

    plain: bool = False  # no code or markup characters (`is_plain`)
    match: re.Pattern | None = None  # must contain a match
    exclude: tuple[str, ...] = ()  # must contain none of these, case aside

    def __call__(self, text: str) -> bool:
        if self.match is not None and not self.match.search(text):
            return False
        lowered = text.lower()
        if any(word.lower() in lowered for word in self.exclude):
            return False
        return not self.plain or is_plain(text)


def first_chunk(sentences: Sequence[str], keep: TextFilter, min_words: int, max_words: int) -> str | None:
    """The first run of consecutive kept sentences that reaches `min_words` words without passing `max_words`.

    A sentence that fails `keep` ends the run; a sentence that takes the run past `max_words`
    starts a new one (alone, if it fits by itself).
    """
    chunk: list[str] = []
    for sentence in sentences:
        if not keep(sentence):
            chunk = []
            continue
        chunk.append(sentence)
        n = len(" ".join(chunk).split())
        if n > max_words:
            chunk = [sentence] if len(sentence.split()) <= max_words else []
        elif n >= min_words:
            return " ".join(chunk)
    return None


def around_first_match(sentences: Sequence[str], keep: TextFilter, min_words: int, max_words: int) -> str | None:
    """The first kept sentence with one sentence either side, if those are `min_words`..`max_words` words and kept."""
    for i, sentence in enumerate(sentences):
        if keep(sentence):
            chunk = " ".join(sentences[max(0, i - 1) : i + 2])
            return chunk if min_words <= len(chunk.split()) <= max_words and keep(chunk) else None
    return None


EXCERPTS = {"chunk": first_chunk, "around-match": around_first_match}


def select_requests(source: str | Path, out: str | Path, *, seed: int | None = None, limit: int | None = None,
                    keep: TextFilter = TextFilter(), excerpt: str | None = None, words: tuple[int, int] = (15, 45),
                    skip_texts: frozenset[str] = frozenset(), skip_ids: frozenset[str] = frozenset(),
                    skip_items: frozenset[str] = frozenset(), id_suffix: str = "") -> int:
    """Write `{"id", "text"}` requests for the records of `source` that yield a kept text; returns how many.

    Records (shuffled when `seed` is given) are taken in order until `limit` requests exist; a record
    whose text is in `skip_texts`, id in `skip_ids` or item in `skip_items` is passed over (a record's
    item is its id before any `#`, `corpora.text.item_id`: a question built from a fortune shares the
    fortune's item). Without `excerpt` the record's text is the request when `keep` accepts it; with
    `excerpt` ("chunk" or "around-match", see `first_chunk` / `around_first_match`) the request is
    that excerpt of its sentences, `words` giving its length. Every request's id is the record's plus `id_suffix`.
    """
    if excerpt is not None and excerpt not in EXCERPTS:
        raise ValueError(f"excerpt must be one of {sorted(EXCERPTS)}, got {excerpt!r}")
    requests = []
    for record in _records(source, seed, ("id", "text")):
        if limit is not None and len(requests) == limit:
            break
        if record["id"] in skip_ids or record["text"] in skip_texts or item_id(record["id"]) in skip_items:
            continue
        if excerpt is None:
            text = record["text"] if keep(record["text"]) else None
        else:
            text = EXCERPTS[excerpt](split_sentences(record["text"]), keep, *words)
        if text is not None:
            requests.append({"id": record["id"] + id_suffix, "text": text})
    return write_jsonl_atomic(out, requests, ensure_ascii=True)  # \u escapes: see the module docstring


def _word_range(value: str) -> tuple[int, int]:
    low, sep, high = value.partition(":")
    if not (sep and low.isdigit() and high.isdigit()) or int(low) > int(high):
        raise argparse.ArgumentTypeError(f"expected MIN:MAX words, e.g. 15:45, got {value!r}")
    return int(low), int(high)


def add_select_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="JSONL of {id, text} (e.g. from `voxlm corpus`)")
    parser.add_argument("-o", "--output", required=True, help="requests JSONL of {id, text} to write")
    parser.add_argument("--seed", type=int, help="shuffle the records with random.Random(SEED) first (default: keep their order)")
    parser.add_argument("--limit", type=int, help="stop after N requests")
    parser.add_argument("--plain", action="store_true", help=f"only text without code or markup characters ({CODE_CHARACTERS})")
    parser.add_argument("--match", type=re.compile, metavar="REGEX", help="only text with a match of REGEX")
    parser.add_argument("--exclude", action="append", default=[], metavar="WORD",
                        help="only text without WORD, case aside (repeatable)")
    parser.add_argument("--skip-texts-in", nargs="+", action="extend", default=[], metavar="FILE",
                        help="pass over records whose text is a text of these JSONL files")
    parser.add_argument("--skip-ids-in", nargs="+", action="extend", default=[], metavar="FILE",
                        help="pass over records whose id is an id of these JSONL files")
    parser.add_argument("--skip-items-in", nargs="+", action="extend", default=[], metavar="FILE",
                        help="pass over records of the same item (id before '#') as a record of these JSONL files")
    excerpt = parser.add_mutually_exclusive_group()
    excerpt.add_argument("--chunk", type=_word_range, metavar="MIN:MAX",
                         help="the request is the first run of consecutive sentences that pass the filters "
                              "and make MIN..MAX words")
    excerpt.add_argument("--around-match", type=_word_range, metavar="MIN:MAX",
                         help="the request is the first sentence that passes the filters with one sentence "
                              "either side, when that makes MIN..MAX words and passes them too")
    parser.add_argument("--id-suffix", default="", help="appended to every request's id, e.g. '#chunk' for excerpts")


def run_select(args: argparse.Namespace) -> int:
    skip_texts = frozenset(r["text"] for f in args.skip_texts_in for _, r in read_jsonl(f, ("text",)))
    skip_ids = frozenset(r["id"] for f in args.skip_ids_in for _, r in read_jsonl(f, ("id",)))
    skip_items = frozenset(item_id(r["id"]) for f in args.skip_items_in for _, r in read_jsonl(f, ("id",)))
    excerpt, words = ("chunk", args.chunk) if args.chunk else ("around-match", args.around_match) \
        if args.around_match else (None, (0, 0))
    count = select_requests(args.source, args.output, seed=args.seed, limit=args.limit,
                            keep=TextFilter(args.plain, args.match, tuple(args.exclude)), excerpt=excerpt,
                            words=words, skip_texts=skip_texts, skip_ids=skip_ids, skip_items=skip_items,
                            id_suffix=args.id_suffix)
    print(f"{count} requests -> {args.output}")
    return 0
