"""`keywords:*`: words that must appear, must not appear, or appear a counted number of times.

Counts are case-insensitive substring counts, as IFEval's ("cat" is found in "category"); only
`forbidden_words` matches whole words, so that forbidding "art" does not forbid "start".
"""

from __future__ import annotations

import re

from . import _phrasing, _text
from ._relations import compare
from .registry import instruction


@instruction("keywords:existence", lambda *, keywords: (
    f"Include the {'keyword' if len(keywords) == 1 else 'keywords'} {_phrasing.join(keywords)} in your response."))
def keywords_existence(response: str, *, keywords: list[str]) -> bool:
    """`keywords`: list of str, each present case-insensitively (as in IFEval, "cat" is found
    in "category")."""
    return all(_text.count_substring(k, response) for k in keywords)


@instruction("keywords:forbidden_words", lambda *, forbidden_words: (
    f"Do not use the {'word' if len(forbidden_words) == 1 else 'words'} "
    f"{_phrasing.join(forbidden_words, 'or')} in your response."))
def keywords_forbidden_words(response: str, *, forbidden_words: list[str]) -> bool:
    """`forbidden_words`: list of str, none present as a whole word, case-insensitive."""
    return not any(re.search(rf"\b{re.escape(w)}\b", response, re.IGNORECASE) for w in forbidden_words)


@instruction("keywords:frequency", lambda *, keyword, frequency, relation: (
    f"Use the word {keyword} {relation} {_phrasing.plural(frequency, 'time')}."))
def keywords_frequency(response: str, *, keyword: str, frequency: int, relation: str) -> bool:
    """`keyword` occurs `relation` `frequency` times (case-insensitive substring count, as IFEval)."""
    return compare(_text.count_substring(keyword, response), relation, frequency)


@instruction("keywords:letter_frequency", lambda *, letter, let_frequency, let_relation: (
    f"Use the letter {letter} {let_relation} {_phrasing.plural(let_frequency, 'time')}."))
def keywords_letter_frequency(response: str, *, letter: str, let_frequency: int, let_relation: str) -> bool:
    """The single character `letter` occurs `let_relation` `let_frequency` times, ignoring case."""
    return compare(response.lower().count(letter.lower()), let_relation, let_frequency)
