"""Telling languages apart: IFEval's `language:response_language`, and the English test that
`change_case:english_*` share.

IFEval calls langdetect; this is a standard-library stand-in (script first, then function words
and telltale letters among languages of one script), so that scores do not depend on a
statistical model's version. `is_language` documents what it can and cannot tell.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass

from . import _text
from .registry import instruction


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
LANGUAGES: dict[str, _Language] = {
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


def is_language(text: str, code: str) -> bool:
    """Whether `text` reads as language `code`: a heuristic standing in for langdetect.

    1. More than half of the letters must be in the language's script (Latin, Cyrillic, ...).
    2. Among languages sharing that script, `code` must score highest (ties pass), a score being
       the number of its function words among the tokens plus its telltale letters
       (Urdu's ے, Ukrainian's і, Japanese kana, Chinese 的, ...).

    Limits: only the languages in `LANGUAGES`; Latin text in a language without a word list
    (Dutch, Turkish, ...) is judged against the listed ones; short text with no function word
    passes (like langdetect failing, which IFEval also scores as a pass), as does text with no
    letters at all; code-switched text is judged by its majority.
    """
    language = LANGUAGES[code]
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return True
    if sum(_script(ch) == language.script for ch in letters) * 2 <= len(letters):
        return False
    lowered = unicodedata.normalize("NFC", text.lower())  # the telltale letters are precomposed
    tokens = Counter(_text.words(lowered))
    chars = Counter(lowered)

    def score(lang: _Language) -> int:
        return sum(tokens[w] for w in lang.words) + sum(chars[c] for c in lang.chars)

    rivals = [lang for lang in LANGUAGES.values() if lang.script == language.script]
    return score(language) >= max(map(score, rivals))


@instruction("language:response_language", lambda *, language: (
    f"Your entire response should be in {LANGUAGES[language].name}, no other language is allowed."))
def language_response_language(response: str, *, language: str) -> bool:
    """`language`: an ISO 639-1 code from IFEval's list (plus zh, el); see `is_language`."""
    return is_language(response, language)
