"""`length_constraints:*`: how many words, sentences or paragraphs a response has, and how
its nth paragraph starts.

The counting units (`_text.words`, `_text.sentences`, `_text.blocks`) are shared with other
families; this module only says which unit each instruction counts and how it compares.
"""

from __future__ import annotations

import re

from . import _phrasing, _text
from ._relations import compare
from .registry import instruction


@instruction("length_constraints:number_sentences", lambda *, num_sentences, relation: (
    f"Answer with {relation} {_phrasing.plural(num_sentences, 'sentence')}."))
def length_number_sentences(response: str, *, num_sentences: int, relation: str) -> bool:
    """`relation` `num_sentences` sentences, split as in `_text.sentences`."""
    return compare(len(_text.sentences(response)), relation, num_sentences)


@instruction("length_constraints:number_paragraphs", lambda *, num_paragraphs: (
    f"Write exactly {_phrasing.plural(num_paragraphs, 'paragraph')}, separated by a line of three asterisks."))
def length_number_paragraphs(response: str, *, num_paragraphs: int) -> bool:
    """Exactly `num_paragraphs` non-empty paragraphs separated by the markdown divider `***`."""
    paragraphs = _text.blocks(response, r"\s?\*\*\*\s?")
    return paragraphs is not None and len(paragraphs) == num_paragraphs


@instruction("length_constraints:number_words", lambda *, num_words, relation: (
    f"Answer with {relation} {_phrasing.plural(num_words, 'word')}."))
def length_number_words(response: str, *, num_words: int, relation: str) -> bool:
    """`relation` `num_words` words (runs of letters and digits: "don't" is two, as in IFEval)."""
    return compare(len(_text.words(response)), relation, num_words)


@instruction("length_constraints:nth_paragraph_first_word", lambda *, num_paragraphs, nth_paragraph,
              first_word: (
    f"Write exactly {_phrasing.plural(num_paragraphs, 'paragraph')}, separated by blank lines, "
    f"and start the {_phrasing.ordinal(nth_paragraph)} paragraph with the word {first_word}."))
def length_nth_paragraph_first_word(
    response: str, *, num_paragraphs: int, nth_paragraph: int, first_word: str
) -> bool:
    """Exactly `num_paragraphs` blank-line-separated paragraphs, paragraph `nth_paragraph`
    (1-based, empty ones skipped) starting with `first_word`, ignoring case and punctuation."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", response) if p.strip()]
    if len(paragraphs) != num_paragraphs or not 1 <= nth_paragraph <= num_paragraphs:
        return False
    first = _text.strip_punctuation(paragraphs[nth_paragraph - 1].split()[0]).lower()
    return first == _text.strip_punctuation(first_word.strip()).lower()
