"""The GCIDE dictionary (`apt-get install dict-gcide`): one short prose document per headword.

"Pelagic, adjective. Of or pertaining to the ocean." Read from the dictd files: the index gives
each entry's offset and length (base64) into the dictzip (gzip-compatible) data file.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import Iterator

from .text import Document, SourceMissingError

GCIDE_DIR = Path("/usr/share/dictd")

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
