"""Text handling shared by every TTS engine: what counts as speakable, and how long text is cut.

Engines differ in how much text they take at once (Kokoro's context is 510 phonemes; espeak takes
anything), so long text is cut here, once, at sentence boundaries, and the pieces are spoken
separately and joined with a short pause. A regex splitter, because NLTK's punkt cannot be
downloaded offline (see ASSETS.md).
"""

from __future__ import annotations

import re
import unicodedata

# Words whose trailing period does not end a sentence ("Dr. Smith", "e.g. this").
_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "vs", "etc", "e.g", "i.e", "cf", "no",
    "fig", "approx", "dept", "inc", "ltd", "co", "corp", "jan", "feb", "mar", "apr", "jun", "jul",
    "aug", "sep", "sept", "oct", "nov", "dec", "u.s", "a.m", "p.m",
}
# A sentence ends at . ! ? or … (plus closing quotes/brackets) followed by whitespace.
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+")
_CLAUSE_END = re.compile(r"(?<=[,;:—–])\s+")


def check_speakable(text: str) -> str:
    """Return `text` with normalised whitespace, or raise ValueError if nothing in it can be spoken.

    Speakable means at least one letter or digit: an empty string, emoji, or punctuation alone
    would make some engines read out symbol names ("grinning face") and others emit silence.
    """
    if not isinstance(text, str):
        raise ValueError(f"text to speak must be a string, got {type(text).__name__}")
    text = " ".join(unicodedata.normalize("NFC", text).split())
    if not text:
        raise ValueError("cannot speak empty text")
    if not any(ch.isalnum() for ch in text):
        raise ValueError(f"nothing speakable in {text[:40]!r}: it has no letters or digits (emoji or punctuation only)")
    return text


def _ends_sentence(text: str, end: int, next_char: str) -> bool:
    """False for a period after an abbreviation or an initial, or before a lowercase word."""
    if next_char.islower():
        return False
    if text[end - 1] != ".":
        return True
    word = text[text.rfind(" ", 0, end) + 1 : end - 1].lstrip("(\"“'‘").lower()
    return not (word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha()))


def split_sentences(text: str) -> list[str]:
    """Sentences of `text`, in order; line breaks always end a sentence.

    >>> split_sentences("Dr. Smith arrived. He sat down! Then? e.g. this")
    ['Dr. Smith arrived.', 'He sat down!', 'Then? e.g. this']
    """
    sentences = []
    for line in text.splitlines():
        line, cut = line.strip(), 0
        for m in _SENTENCE_END.finditer(line):
            if m.end() < len(line) and _ends_sentence(line, m.start(), line[m.end()]):
                sentences.append(line[cut : m.end()].strip())  # keeps closing quotes
                cut = m.end()
        sentences.append(line[cut:].strip())
    return [s for s in sentences if s]


def _split_long(sentence: str, max_chars: int) -> list[str]:
    """Cut one over-long sentence at clause punctuation, then at spaces, into pieces <= max_chars."""
    pieces: list[str] = []
    for clause in _CLAUSE_END.split(sentence):
        words = clause.split(" ")
        cur = ""
        for word in words:
            # A single word longer than max_chars is cut hard: nothing better exists.
            while len(word) > max_chars:
                if cur:
                    pieces.append(cur)
                    cur = ""
                pieces.append(word[:max_chars])
                word = word[max_chars:]
            if cur and len(cur) + 1 + len(word) > max_chars:
                pieces.append(cur)
                cur = word
            else:
                cur = f"{cur} {word}" if cur else word
        if cur:
            pieces.append(cur)
    return _pack(pieces, max_chars)


def _pack(pieces: list[str], max_chars: int) -> list[str]:
    """Greedily join consecutive pieces while the result stays within max_chars."""
    chunks: list[str] = []
    for piece in pieces:
        if chunks and len(chunks[-1]) + 1 + len(piece) <= max_chars:
            chunks[-1] = f"{chunks[-1]} {piece}"
        else:
            chunks.append(piece)
    return chunks


def chunk_text(text: str, max_chars: int) -> list[str]:
    """Cut `text` into pieces of at most `max_chars` characters, at sentence boundaries.

    Text that fits is returned whole (the engine then sets the prosody across sentences itself);
    longer text is split into sentences, consecutive sentences are packed up to `max_chars`, and a
    sentence longer than that is cut at commas/semicolons, then at spaces.
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be positive, got {max_chars}")
    if len(text) <= max_chars:
        return [text]
    pieces: list[str] = []
    for sentence in split_sentences(text):
        pieces.extend([sentence] if len(sentence) <= max_chars else _split_long(sentence, max_chars))
    return _pack(pieces, max_chars)
