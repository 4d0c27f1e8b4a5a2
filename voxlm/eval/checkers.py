"""IFEval's verifiable instructions: rule-based checkers, loose scoring and metrics.

The 25 instruction ids and their kwargs follow IFEval (Zhou et al., 2023) so that IFEval and
SpeechInstructBench closed-ended files score here unchanged. The code is our own, standard
library only: no NLTK (words and sentences are split with regular expressions) and no
langdetect (languages are told apart by script plus a few function words, see `_is_language`).

Where IFEval would draw a random default for a missing kwarg, we raise instead: a score must not
depend on a random draw. Keys whose value is None are dropped first, because the Hugging Face
copy of IFEval stores every instruction's kwargs as one dict with all keys, mostly None.

    >>> check("punctuation:no_comma", "Fine, thanks.", {})
    False
    >>> check_loose("startend:quotation", 'Sure:\\n"Hi there."', {})
    True
    >>> describe("length_constraints:number_words", {"relation": "less than", "num_words": 50})
    'Answer with less than 50 words.'
"""

from __future__ import annotations

import difflib
import inspect
import json
import operator
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

__all__ = [
    "CHECKERS",
    "SUPPORTED_INSTRUCTIONS",
    "Checker",
    "UnknownInstructionError",
    "aggregate",
    "check",
    "check_loose",
    "describe",
    "evaluate_item",
]


class UnknownInstructionError(ValueError):
    """An instruction id outside `SUPPORTED_INSTRUCTIONS`; `.unknown` holds the offending ids."""

    def __init__(self, unknown: Iterable[str]):
        self.unknown = tuple(dict.fromkeys(unknown))
        parts = []
        for instruction_id in self.unknown:
            close = difflib.get_close_matches(instruction_id, CHECKERS, n=1)
            parts.append(repr(instruction_id) + (f" (did you mean {close[0]!r}?)" if close else ""))
        super().__init__(
            f"unknown instruction id(s): {', '.join(parts)}. The {len(CHECKERS)} supported ids are "
            "listed by `python -c 'from voxlm.eval.checkers import SUPPORTED_INSTRUCTIONS as s; "
            "print(*s, sep=chr(10))'`."
        )


# ---------------------------------------------------------------------------------------------
# Shared text helpers
# ---------------------------------------------------------------------------------------------

_RELATIONS: dict[str, Callable[[int, int], bool]] = {
    "less than": operator.lt,
    "at least": operator.ge,
    # IFEval's data uses only the two above; these read naturally in hand-made benchmark items.
    "at most": operator.le,
    "more than": operator.gt,
    "exactly": operator.eq,
}


def _compare(count: int, relation: str, target: int) -> bool:
    return _RELATIONS[relation](count, target)


def _is_word_char(ch: str) -> bool:
    # Marks count as word characters: Indic vowel signs are category M, and plain `\w+` would
    # read "नहीं" as "नह", so Hindi function words would never match.
    return ch.isalnum() or unicodedata.category(ch).startswith("M")


def _words(text: str) -> list[str]:
    """Maximal runs of letters, digits and combining marks (IFEval's `\\w+`, minus `_`)."""
    return "".join(ch if _is_word_char(ch) else " " for ch in text).split()


def _strip_punctuation(token: str) -> str:
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


def _sentences(text: str) -> list[str]:
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


def _blocks(text: str, separator: str) -> list[str] | None:
    """Non-empty blocks between separators, or None if a block in the middle is empty.

    IFEval tolerates an empty first or last block (a separator at the very start or end) but
    treats two separators in a row as a malformed response.
    """
    parts = re.split(separator, text)
    if any(not p.strip() for p in parts[1:-1]):
        return None
    return [p.strip() for p in parts if p.strip()]


def _count_substring(needle: str, text: str) -> int:
    return len(re.findall(re.escape(needle), text, re.IGNORECASE))


# ---------------------------------------------------------------------------------------------
# Language heuristic
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Language:
    name: str
    script: str
    words: frozenset[str] = frozenset()  # frequent function words, lower case
    chars: str = ""  # letters that are common in this language but rare in its script-mates


def _lang(name: str, script: str, words: str = "", chars: str = "") -> _Language:
    return _Language(name, script, frozenset(words.split()), chars)


_KANA = "".join(map(chr, range(0x3041, 0x3097))) + "".join(map(chr, range(0x30A1, 0x30FB)))

# IFEval's language codes, plus zh and el so that Han-only and Greek text get a name.
_LANGUAGES: dict[str, _Language] = {
    "en": _lang("English", "LATIN", "the and of to is in that it you for was with are this be on "
                "have not as but they we i he she at by from or will would can what there their "
                "which an has were been do does my your our"),
    "es": _lang("Spanish", "LATIN", "el la los las de que y en un una es por con para no se del "
                "al lo como más pero su sus este esta son muy también hay está yo mi porque cuando",
                "ñ¿¡"),
    "pt": _lang("Portuguese", "LATIN", "o a os as de que e do da dos das em um uma é não para com "
                "por se mais mas como ao na no seu sua são também você está muito isso ele ela",
                "ãõ"),
    "fr": _lang("French", "LATIN", "le la les de des du et est un une en que qui dans pour pas "
                "sur au aux avec ce cette il elle ne se sont mais vous nous je plus être", "œ"),
    "de": _lang("German", "LATIN", "der die das und ist nicht ein eine zu den dem mit sich auf für "
                "von im es auch ich sie wir sind war wird oder aber wie noch nur", "ß"),
    "it": _lang("Italian", "LATIN", "il lo la gli le di che e è un una per non con del della dei "
                "in sono si da ma come anche più questo questa al nel alla"),
    "pl": _lang("Polish", "LATIN", "i w z na nie się to jest że do o jak a ale co po za od tak "
                "jego jej są przez dla czy ten ta też już być", "ąćęłńśźż"),
    "vi": _lang("Vietnamese", "LATIN", "và của là có không được trong cho một những các với người "
                "này đã để khi từ như về thì cũng tôi bạn rất",
                "ăđơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ"),
    "sw": _lang("Swahili", "LATIN", "na ya wa kwa ni za la katika kuwa hii cha vya yake lakini au "
                "pia sana kama mimi wewe sisi hiyo watu"),
    "fi": _lang("Finnish", "LATIN", "ja on ei se että hän oli ovat mutta tai kuin myös niin joka "
                "tämä ole olen mitä kun sen jo nyt vain minä sinä me te he"),
    "ru": _lang("Russian", "CYRILLIC", "и в не на что я с он как это по но они к у же вы за бы из "
                "его то все она так было мы для есть ты", "ыэё"),
    "uk": _lang("Ukrainian", "CYRILLIC", "і в не на що я з він як це та але до у ви за б із його то "
                "все вона так було ми для є ти й", "іїєґ"),
    "bg": _lang("Bulgarian", "CYRILLIC", "и в не на че аз с той как това по но те за да от е са се "
                "му тя ние вие ли със във беше ще", "ъ"),
    "ar": _lang("Arabic", "ARABIC", "في من على إلى أن عن هذا هذه التي الذي كان ما لا مع هو هي كل "
                "قد ثم أو لم بين", "ةىيك"),
    "fa": _lang("Persian", "ARABIC", "است در به از که این را با برای آن می شد هم یک ما شما او "
                "نیست بود", "ژ"),
    "ur": _lang("Urdu", "ARABIC", "ہے ہیں کے کی کا میں سے کو یہ وہ اور نے پر تھا تھی نہیں بھی "
                "ایک", "ٹڈڑںےھہ"),
    "hi": _lang("Hindi", "DEVANAGARI", "है हैं और के की का में से को यह वह था थी थे पर नहीं भी "
                "एक तो हम आप कि जो लिए"),
    "mr": _lang("Marathi", "DEVANAGARI", "आहे आहेत आणि या च्या ची चा चे हे ते मी तुम्ही नाही पण "
                "व होते आम्ही करा असे", "ळ"),
    "ne": _lang("Nepali", "DEVANAGARI", "छ छन् र को मा हो यो त्यो पनि लागि गर्न हुन्छ थियो म "
                "तिमी तपाईं छैन भएको गरेको"),
    "ja": _lang("Japanese", "CJK", chars=_KANA),
    "zh": _lang("Chinese", "CJK", chars="的了这们么吗说个着过还没"),
    "ko": _lang("Korean", "HANGUL"),
    "th": _lang("Thai", "THAI"),
    "he": _lang("Hebrew", "HEBREW"),
    "el": _lang("Greek", "GREEK"),
    "bn": _lang("Bengali", "BENGALI"),
    "ta": _lang("Tamil", "TAMIL"),
    "te": _lang("Telugu", "TELUGU"),
    "kn": _lang("Kannada", "KANNADA"),
    "ml": _lang("Malayalam", "MALAYALAM"),
    "gu": _lang("Gujarati", "GUJARATI"),
    "pa": _lang("Punjabi", "GURMUKHI"),
}


def _script(ch: str) -> str:
    script = unicodedata.name(ch, "?").split(" ")[0]
    return "CJK" if script in ("CJK", "HIRAGANA", "KATAKANA", "KATAKANA-HIRAGANA") else script


def _is_language(text: str, code: str) -> bool:
    """Whether `text` reads as language `code`: a heuristic standing in for langdetect.

    1. More than half of the letters must be in the language's script (Latin, Cyrillic, ...).
    2. Among languages sharing that script, `code` must score highest (ties pass), a score being
       the number of its function words among the tokens plus its telltale letters
       (Urdu's ے, Ukrainian's і, Japanese kana, Chinese 的, ...).

    Limits: only the languages in `_LANGUAGES`; Latin text in a language without a word list
    (Dutch, Turkish, ...) is judged against the listed ones; short text with no function word
    passes (like langdetect failing, which IFEval also scores as a pass), as does text with no
    letters at all; code-switched text is judged by its majority.
    """
    language = _LANGUAGES[code]
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return True
    if sum(_script(ch) == language.script for ch in letters) * 2 <= len(letters):
        return False
    lowered = unicodedata.normalize("NFC", text.lower())  # the telltale letters are precomposed
    tokens = Counter(_words(lowered))
    chars = Counter(lowered)

    def score(lang: _Language) -> int:
        return sum(tokens[w] for w in lang.words) + sum(chars[c] for c in lang.chars)

    rivals = [lang for lang in _LANGUAGES.values() if lang.script == language.script]
    return score(language) >= max(map(score, rivals))


# ---------------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checker:
    """One verifiable instruction.

    `check(response, **kwargs) -> bool` and `describe(**kwargs) -> str` take the same
    keyword-only kwargs, all required; `kwargs` lists their names.
    """

    instruction_id: str
    check: Callable[..., bool]
    describe: Callable[..., str]

    @property
    def kwargs(self) -> tuple[str, ...]:
        return tuple(inspect.signature(self.check).parameters)[1:]


CHECKERS: dict[str, Checker] = {}


def _instruction(instruction_id: str, describe: Callable[..., str]):
    def register(fn: Callable[..., bool]) -> Callable[..., bool]:
        CHECKERS[instruction_id] = Checker(instruction_id, fn, describe)
        return fn

    return register


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _join(items: Sequence[str], conjunction: str = "and") -> str:
    items = [str(i) for i in items]
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")


def _ordinal(n: int) -> str:
    return _ORDINALS[n - 1] if 1 <= n <= len(_ORDINALS) else f"number {n}"


# ---------------------------------------------------------------------------------------------
# The 25 instructions
# ---------------------------------------------------------------------------------------------


@_instruction("keywords:existence", lambda *, keywords: (
    f"Include the {'keyword' if len(keywords) == 1 else 'keywords'} {_join(keywords)} in your response."))
def keywords_existence(response: str, *, keywords: list[str]) -> bool:
    """`keywords`: list of str, each present case-insensitively (as in IFEval, "cat" is found
    in "category")."""
    return all(_count_substring(k, response) for k in keywords)


@_instruction("keywords:forbidden_words", lambda *, forbidden_words: (
    f"Do not use the {'word' if len(forbidden_words) == 1 else 'words'} "
    f"{_join(forbidden_words, 'or')} in your response."))
def keywords_forbidden_words(response: str, *, forbidden_words: list[str]) -> bool:
    """`forbidden_words`: list of str, none present as a whole word, case-insensitive."""
    return not any(re.search(rf"\b{re.escape(w)}\b", response, re.IGNORECASE) for w in forbidden_words)


@_instruction("keywords:frequency", lambda *, keyword, frequency, relation: (
    f"Use the word {keyword} {relation} {_plural(frequency, 'time')}."))
def keywords_frequency(response: str, *, keyword: str, frequency: int, relation: str) -> bool:
    """`keyword` occurs `relation` `frequency` times (case-insensitive substring count, as IFEval)."""
    return _compare(_count_substring(keyword, response), relation, frequency)


@_instruction("keywords:letter_frequency", lambda *, letter, let_frequency, let_relation: (
    f"Use the letter {letter} {let_relation} {_plural(let_frequency, 'time')}."))
def keywords_letter_frequency(response: str, *, letter: str, let_frequency: int, let_relation: str) -> bool:
    """The single character `letter` occurs `let_relation` `let_frequency` times, ignoring case."""
    return _compare(response.lower().count(letter.lower()), let_relation, let_frequency)


@_instruction("language:response_language", lambda *, language: (
    f"Your entire response should be in {_LANGUAGES[language].name}, no other language is allowed."))
def language_response_language(response: str, *, language: str) -> bool:
    """`language`: an ISO 639-1 code from IFEval's list (plus zh, el); see `_is_language`."""
    return _is_language(response, language)


@_instruction("length_constraints:number_sentences", lambda *, num_sentences, relation: (
    f"Answer with {relation} {_plural(num_sentences, 'sentence')}."))
def length_number_sentences(response: str, *, num_sentences: int, relation: str) -> bool:
    """`relation` `num_sentences` sentences, split as in `_sentences`."""
    return _compare(len(_sentences(response)), relation, num_sentences)


@_instruction("length_constraints:number_paragraphs", lambda *, num_paragraphs: (
    f"Write exactly {_plural(num_paragraphs, 'paragraph')}, separated by a line of three asterisks."))
def length_number_paragraphs(response: str, *, num_paragraphs: int) -> bool:
    """Exactly `num_paragraphs` non-empty paragraphs separated by the markdown divider `***`."""
    paragraphs = _blocks(response, r"\s?\*\*\*\s?")
    return paragraphs is not None and len(paragraphs) == num_paragraphs


@_instruction("length_constraints:number_words", lambda *, num_words, relation: (
    f"Answer with {relation} {_plural(num_words, 'word')}."))
def length_number_words(response: str, *, num_words: int, relation: str) -> bool:
    """`relation` `num_words` words (runs of letters and digits: "don't" is two, as in IFEval)."""
    return _compare(len(_words(response)), relation, num_words)


@_instruction("length_constraints:nth_paragraph_first_word", lambda *, num_paragraphs, nth_paragraph,
              first_word: (
    f"Write exactly {_plural(num_paragraphs, 'paragraph')}, separated by blank lines, "
    f"and start the {_ordinal(nth_paragraph)} paragraph with the word {first_word}."))
def length_nth_paragraph_first_word(
    response: str, *, num_paragraphs: int, nth_paragraph: int, first_word: str
) -> bool:
    """Exactly `num_paragraphs` blank-line-separated paragraphs, paragraph `nth_paragraph`
    (1-based, empty ones skipped) starting with `first_word`, ignoring case and punctuation."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", response) if p.strip()]
    if len(paragraphs) != num_paragraphs or not 1 <= nth_paragraph <= num_paragraphs:
        return False
    first = _strip_punctuation(paragraphs[nth_paragraph - 1].split()[0]).lower()
    return first == _strip_punctuation(first_word.strip()).lower()


@_instruction("detectable_content:number_placeholders", lambda *, num_placeholders: (
    f"Include at least {_plural(num_placeholders, 'placeholder')} in square brackets, such as [address]."))
def content_number_placeholders(response: str, *, num_placeholders: int) -> bool:
    """At least `num_placeholders` bracketed placeholders like `[name]` on one line."""
    return len(re.findall(r"\[[^\[\]\n]*\]", response)) >= num_placeholders


@_instruction("detectable_content:postscript", lambda *, postscript_marker: (
    f"At the end of your response, add a postscript starting with {postscript_marker}"
    f"{'' if postscript_marker.endswith('.') else '.'}"))
def content_postscript(response: str, *, postscript_marker: str) -> bool:
    """The marker (e.g. "P.S." or "P.P.S") appears, ignoring case and a space after each dot.

    Like IFEval, its position is not checked: "at the end" is not verifiable without guessing
    where a postscript's own text ends.
    """
    pattern = re.escape(postscript_marker.strip().lower()).replace(r"\.", r"\.\s?")
    return re.search(rf"(?<!\w){pattern}", response.lower()) is not None


@_instruction("detectable_format:number_bullet_lists", lambda *, num_bullets: (
    f"Use exactly {_plural(num_bullets, 'markdown bullet point')}, such as: * This is a point."))
def format_number_bullet_lists(response: str, *, num_bullets: int) -> bool:
    """Exactly `num_bullets` lines starting with `* ` or `- `.

    A space after the marker is required so that `***` dividers, `---` rules, `**bold**` openers
    and "-5 degrees" are not bullets (IFEval counts the last two).
    """
    return len(re.findall(r"^[ \t]*[*-][ \t]+\S", response, re.MULTILINE)) == num_bullets


_CONSTRAINED_OPTIONS = ("My answer is yes.", "My answer is no.", "My answer is maybe.")


@_instruction("detectable_format:constrained_response", lambda: (
    'Answer with one of the following options: "My answer is yes.", "My answer is no.", '
    'or "My answer is maybe."'))
def format_constrained_response(response: str) -> bool:
    """Contains one of IFEval's fixed options, e.g. "My answer is yes." (case-sensitive)."""
    return any(option in response for option in _CONSTRAINED_OPTIONS)


@_instruction("detectable_format:number_highlighted_sections", lambda *, num_highlights: (
    f"Highlight at least {_plural(num_highlights, 'section')} with markdown, "
    "such as *highlighted section*."))
def format_number_highlighted_sections(response: str, *, num_highlights: int) -> bool:
    """At least `num_highlights` non-blank `*italic*` or `**bold**` spans within a line."""
    spans = re.findall(r"\*\*([^\n*]*)\*\*|\*([^\n*]*)\*", response)
    return sum(bool((bold or italic).strip()) for bold, italic in spans) >= num_highlights


@_instruction("detectable_format:multiple_sections", lambda *, section_spliter, num_sections: (
    f"Divide your response into {_plural(num_sections, 'section')}, and begin each one with "
    f"{section_spliter} and its number, like {section_spliter} 1."))
def format_multiple_sections(response: str, *, section_spliter: str, num_sections: int) -> bool:
    """At least `num_sections` headers "`section_spliter` N" (case-sensitive, e.g. "SECTION 2")."""
    headers = re.findall(rf"{re.escape(section_spliter.strip())}\s?\d+", response)
    return len(headers) >= num_sections


@_instruction("detectable_format:json_format", lambda: "Wrap your entire output in JSON format.")
def format_json(response: str) -> bool:
    """The whole response parses as JSON, optionally inside one ```json fenced block."""
    text = response.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", text, re.DOTALL | re.IGNORECASE)
    try:
        json.loads(fenced.group(1) if fenced else text)
    except ValueError:
        return False
    return True


@_instruction("detectable_format:title", lambda: (
    "Give your answer a title wrapped in double angular brackets, such as <<poem of joy>>."))
def format_title(response: str) -> bool:
    """Contains a non-blank `<<title>>` on one line."""
    return any(t.strip() for t in re.findall(r"<<([^\n]+?)>>", response))


@_instruction("combination:two_responses", lambda: (
    "Give two different responses, separated by six asterisks: ******."))
def combination_two_responses(response: str) -> bool:
    """Exactly two different non-empty responses separated by `******`."""
    responses = _blocks(response, re.escape("******"))
    return responses is not None and len(responses) == 2 and responses[0] != responses[1]


@_instruction("combination:repeat_prompt", lambda *, prompt_to_repeat: (
    "First repeat the request word for word without change, then give your answer. "
    "Do not say anything before the request, and do not repeat this sentence."))
def combination_repeat_prompt(response: str, *, prompt_to_repeat: str) -> bool:
    """Starts with `prompt_to_repeat` (the request without this instruction), ignoring case."""
    return response.strip().lower().startswith(prompt_to_repeat.strip().lower())


@_instruction("startend:end_checker", lambda *, end_phrase: (
    f"Finish your response with this exact phrase: {end_phrase} No other words should follow it."))
def startend_end_checker(response: str, *, end_phrase: str) -> bool:
    """Ends with `end_phrase`, ignoring case, outer whitespace and wrapping double quotes."""
    return response.strip().strip('"').lower().endswith(end_phrase.strip().lower())


@_instruction("change_case:capital_word_frequency", lambda *, capital_frequency, capital_relation: (
    f"Use words in all capital letters {capital_relation} {_plural(capital_frequency, 'time')}."))
def case_capital_word_frequency(response: str, *, capital_frequency: int, capital_relation: str) -> bool:
    """`capital_relation` `capital_frequency` all-caps words ("I" and "NASA" count)."""
    return _compare(sum(w.isupper() for w in _words(response)), capital_relation, capital_frequency)


@_instruction("change_case:english_capital", lambda: (
    "Your entire response should be in English, and in all capital letters."))
def case_english_capital(response: str) -> bool:
    """English with no lower-case letter."""
    return response.isupper() and _is_language(response, "en")


@_instruction("change_case:english_lowercase", lambda: (
    "Your entire response should be in English, and in all lowercase letters. "
    "No capital letters are allowed."))
def case_english_lowercase(response: str) -> bool:
    """English with no upper-case letter."""
    return response.islower() and _is_language(response, "en")


@_instruction("punctuation:no_comma", lambda: "Do not use any commas in your response.")
def punctuation_no_comma(response: str) -> bool:
    """No ASCII comma (as IFEval: the CJK "，" and Arabic "،" are not checked)."""
    return "," not in response


@_instruction("startend:quotation", lambda: "Wrap your entire response in double quotation marks.")
def startend_quotation(response: str) -> bool:
    """Starts and ends with a straight double quote `"` (curly quotes fail, as in IFEval)."""
    text = response.strip()
    return len(text) > 1 and text[0] == text[-1] == '"'


SUPPORTED_INSTRUCTIONS: tuple[str, ...] = tuple(CHECKERS)


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def _as_list(value: Any) -> list[str]:
    # A bare string would otherwise be iterated letter by letter.
    return [value] if isinstance(value, str) else list(value)


def _relation(value: str) -> str:
    if value not in _RELATIONS:
        raise ValueError(f"unknown relation {value!r}; valid relations are {list(_RELATIONS)}")
    return value


def _language(value: str) -> str:
    if value not in _LANGUAGES:
        raise ValueError(f"unsupported language code {value!r}; supported codes are {sorted(_LANGUAGES)}")
    return value


def _letter(value: str) -> str:
    if len(value) != 1:
        raise ValueError(f"`letter` must be a single character, got {value!r}")
    return value


_NORMALIZE: dict[str, Callable[[Any], Any]] = {
    "keywords": _as_list,
    "forbidden_words": _as_list,
    "relation": _relation,
    "let_relation": _relation,
    "capital_relation": _relation,
    "language": _language,
    "letter": _letter,
}


def _checker(instruction_id: str) -> Checker:
    if instruction_id not in CHECKERS:
        raise UnknownInstructionError([instruction_id])
    return CHECKERS[instruction_id]


def _resolve_kwargs(checker: Checker, kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    given = {k: v for k, v in (kwargs or {}).items() if v is not None}
    valid = checker.kwargs
    unknown = sorted(set(given) - set(valid))
    if unknown:
        raise ValueError(
            f"{checker.instruction_id}: unknown kwargs {unknown}; "
            + (f"valid keys are {list(valid)}" if valid else "it takes no kwargs")
        )
    missing = [k for k in valid if k not in given]
    if missing:
        raise ValueError(
            f"{checker.instruction_id}: missing kwargs {missing} (IFEval would pick them at random; "
            f"pass them explicitly). Required keys are {list(valid)}"
        )
    return {k: _NORMALIZE.get(k, lambda v: v)(v) for k, v in given.items()}


def check(instruction_id: str, response: str, kwargs: Mapping[str, Any] | None = None,
          prompt: str | None = None) -> bool:
    """Strict IFEval check of one instruction on one response.

    `kwargs` are the instruction's IFEval kwargs (None values ignored). `prompt` is accepted so
    that IFEval records can be passed through as they are; no checker reads it (repeat_prompt
    reads `prompt_to_repeat`, which excludes the repeat instruction itself). A blank response
    follows nothing, as in IFEval, so it cannot pass e.g. no_comma.
    """
    checker = _checker(instruction_id)
    resolved = _resolve_kwargs(checker, kwargs)
    return bool(response.strip()) and checker.check(response, **resolved)


def _loose_variants(response: str) -> list[str]:
    lines = response.split("\n")
    # Models wrap answers in a chatty first line ("Sure, here it is:") or last line, and in
    # markdown emphasis; loose scoring forgives exactly these, as IFEval does.
    trimmed = [response] + ["\n".join(ls).strip() for ls in (lines[1:], lines[:-1], lines[1:-1])]
    return trimmed + [t.replace("*", "") for t in trimmed]


def check_loose(instruction_id: str, response: str, kwargs: Mapping[str, Any] | None = None,
                prompt: str | None = None) -> bool:
    """IFEval's loose check: the strict check passes on any of the response, the response
    without its first line, without its last line, without both, and each of these with every
    `*` removed. Blank variants do not count."""
    checker = _checker(instruction_id)
    resolved = _resolve_kwargs(checker, kwargs)
    return any(v.strip() and checker.check(v, **resolved) for v in _loose_variants(response))


def describe(instruction_id: str, kwargs: Mapping[str, Any] | None = None) -> str:
    """A short, speakable English sentence stating the instruction, e.g. for TTS prompts."""
    checker = _checker(instruction_id)
    return checker.describe(**_resolve_kwargs(checker, kwargs))


def evaluate_item(response: str, instruction_id_list: Sequence[str],
                  kwargs_list: Sequence[Mapping[str, Any] | None] | None = None,
                  prompt: str | None = None) -> dict[str, Any]:
    """Score one prompt's response against all its instructions.

    Returns `{"prompt", "response", "instruction_id_list", "inst_strict": [bool],
    "inst_loose": [bool], "prompt_strict": bool, "prompt_loose": bool}`; a prompt passes when
    every one of its instructions does.
    """
    ids = list(instruction_id_list)
    if not ids:
        raise ValueError("evaluate_item() needs at least one instruction id")
    unknown = [i for i in ids if i not in CHECKERS]
    if unknown:
        raise UnknownInstructionError(unknown)
    kwargs_list = list(kwargs_list) if kwargs_list is not None else [None] * len(ids)
    if len(kwargs_list) != len(ids):
        raise ValueError(f"{len(ids)} instruction ids but {len(kwargs_list)} kwargs dicts; give one per id")
    strict = [check(i, response, k) for i, k in zip(ids, kwargs_list)]
    loose = [check_loose(i, response, k) for i, k in zip(ids, kwargs_list)]
    return {
        "prompt": prompt,
        "response": response,
        "instruction_id_list": ids,
        "inst_strict": strict,
        "inst_loose": loose,
        "prompt_strict": all(strict),
        "prompt_loose": all(loose),
    }


def aggregate(results: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """IFEval's four accuracies over `evaluate_item` results, plus the counts behind them.

    Prompt level: share of prompts whose instructions all pass. Instruction level: share of
    all instructions, pooled over prompts (so prompts with more instructions weigh more).
    """
    results = list(results)
    if not results:
        raise ValueError("aggregate() needs at least one evaluate_item() result")
    out: dict[str, float] = {}
    for mode in ("strict", "loose"):
        instructions = [ok for r in results for ok in r[f"inst_{mode}"]]
        out[f"prompt_level_{mode}_acc"] = sum(r[f"prompt_{mode}"] for r in results) / len(results)
        out[f"inst_level_{mode}_acc"] = sum(instructions) / len(instructions)
    out["num_prompts"] = len(results)
    out["num_instructions"] = sum(len(r["inst_strict"]) for r in results)
    return out
