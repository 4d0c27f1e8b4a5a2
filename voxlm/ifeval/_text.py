"""How responses are cut into words, sentences and blocks: the units several families count.

Standard library only. IFEval uses NLTK for this; regular expressions do here, so the splitting
rules are written down below rather than inherited from a tokenizer model.
"""

from __future__ import annotations

import re
import unicodedata


def _is_word_char(ch: str) -> bool:
    # Marks count as word characters: Indic vowel signs are category M, and plain `\w+` would
    # read "नहीं" as "नह", so Hindi function words would never match.
    return ch.isalnum() or unicodedata.category(ch).startswith("M")


def words(text: str) -> list[str]:
    """Maximal runs of letters, digits and combining marks (IFEval's `\\w+`, minus `_`)."""
    return "".join(ch if _is_word_char(ch) else " " for ch in text).split()


def strip_punctuation(token: str) -> str:
    """`token` without leading or trailing punctuation and symbols (quotes, `*`, `,`, ...)."""
    return token.strip("".join(ch for ch in token if unicodedata.category(ch)[0] in "PS"))


# A list marker is not the end of a sentence: "1. Buy milk." is one sentence, not two.
_LIST_MARKER = re.compile(r"^[ \t]*(?:\d+[.)]|[-*+•])[ \t]+", re.MULTILINE)
# Latin-style stops need a following space (so "3.5" does not end a sentence); CJK stops
# need none; a blank line ends a sentence even without punctuation (headings, list blocks).
_SENTENCE_BREAK = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+|(?<=[。！？])\s*|\n\s*\n")
# Honorifics and single-letter initials ("Dr. Who", "J. R. R.", "U.S.", "e.g.", "p.m.") end in
# a period that is not a full stop. The price: "I like vitamin C. It helps." is one sentence.
_ABBREVIATION = re.compile(r"(?:^|[\s(.])(?:mr|mrs|ms|dr|prof|sr|jr|st|vs|cf|approx|[a-z])\.$", re.I)


def sentences(text: str) -> list[str]:
    """Sentences by regex, NLTK-punkt-like: terminal punctuation + space, or a blank line.

    Single newlines do not split (as in punkt), list markers are ignored, and pieces without a
    letter (stray numbers, emoji, "...") are not sentences.
    """
    merged: list[str] = []
    for piece in _SENTENCE_BREAK.split(_LIST_MARKER.sub("", text)):
        if merged and _ABBREVIATION.search(merged[-1]):
            merged[-1] += " " + piece
        else:
            merged.append(piece)
    return [s.strip() for s in merged if any(ch.isalpha() for ch in s)]


def blocks(text: str, separator: str) -> list[str] | None:
    """Non-empty blocks between separators, or None if a block in the middle is empty.

    IFEval tolerates an empty first or last block (a separator at the very start or end) but
    treats two separators in a row as a malformed response.
    """
    parts = re.split(separator, text)
    if any(not p.strip() for p in parts[1:-1]):
        return None
    return [p.strip() for p in parts if p.strip()]


def count_substring(needle: str, text: str) -> int:
    """Case-insensitive occurrences of `needle` anywhere, inside words too (IFEval's count)."""
    return len(re.findall(re.escape(needle), text, re.IGNORECASE))
