"""`change_case:*`: letter case: a counted number of all-caps words, or all English text in
capitals or in lower case (English judged by `language.is_language`).
"""

from __future__ import annotations

from . import _phrasing, _text
from ._relations import compare
from .language import is_language
from .registry import instruction


@instruction("change_case:capital_word_frequency", lambda *, capital_frequency, capital_relation: (
    f"Use words in all capital letters {capital_relation} {_phrasing.plural(capital_frequency, 'time')}."))
def case_capital_word_frequency(response: str, *, capital_frequency: int, capital_relation: str) -> bool:
    """`capital_relation` `capital_frequency` all-caps words ("I" and "NASA" count)."""
    return compare(sum(w.isupper() for w in _text.words(response)), capital_relation, capital_frequency)


@instruction("change_case:english_capital", lambda: (
    "Your entire response should be in English, and in all capital letters."))
def case_english_capital(response: str) -> bool:
    """English with no lower-case letter."""
    return response.isupper() and is_language(response, "en")


@instruction("change_case:english_lowercase", lambda: (
    "Your entire response should be in English, and in all lowercase letters. "
    "No capital letters are allowed."))
def case_english_lowercase(response: str) -> bool:
    """English with no upper-case letter."""
    return response.islower() and is_language(response, "en")
