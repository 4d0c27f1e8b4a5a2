"""Questions and requests as users say them: short, spoken-style text the other sources rarely hold.

Dictionaries, quotes and assistant replies are prose; what a speech assistant hears is "what does
frugal mean?", "set a timer for 25 minutes", "how do I get to Lisbon?". This source builds such text
from templates over three things already installed:
- GCIDE headwords in everyday use (a headword counts as everyday when the fortunes text uses it at
  least `min_uses` times): what-is, how-to and spelling questions, by part of speech;
- short fortunes (one to two sentences): asked about ("what does this saying mean?") or quoted;
- numbers, times, dates, money and places, drawn from a seeded generator.

Every document's id keeps the id of the entry it was built from before the `#`, so `split` puts a
question on the same side as its dictionary entry or fortune: held-out text stays held out. The
generated ones (`numbers:N`, `places:N`) split by their own ids. Up to a fifth of a number request's
characters are digits: read them with `corpus(..., min_prose=0.6)` (`voxlm corpus questions
--min-prose 0.6`), or the filter for tables and ASCII art drops most of them. No template asks about
capitals, colours or counts of things: those are the wordings of `bench/spoken_questions.py`.
"""

from __future__ import annotations

import collections
import random
import re
from typing import Iterable, Iterator

from .fortunes import fortune_documents
from .gcide import gcide_documents
from .text import Document

TEMPLATES = {  # part of speech -> templates over the headword {w}
    "noun": ["What is {a} {w}?", "Can you explain what {a} {w} is?", "Where would I usually find {a} {w}?",
             "Write two sentences about {a} {w}.", "Is {a} {w} expensive?", "Tell me something interesting about {ws}."],
    "verb": ["What does it mean to {w}?", "How do I {w} properly?", "Use the word {w} in a sentence.",
             "Why would someone {w}?", "Is it hard to learn to {w}?"],
    "adjective": ["What does {w} mean?", "What is something that is {w}?", "Describe {a} {w} day in one sentence.",
                  "Is {w} a compliment?", "Give me another word for {w}."],
    "adverb": ["What does {w} mean?", "Use {w} in a short sentence."],
}
ANY_WORD = ["How do you spell {w}?", "What does the word {w} mean?", "Where does the word {w} come from?",
            "Can you say {w} in a sentence for me?"]
SAYING = ["What does this saying mean? {f}", "Explain this to me: {f}", "Is this true? {f}",
          "Can you say this more simply? {f}", "My friend always says: {f} What do you think?"]
PLACES = ["Lisbon", "Madrid", "Vienna", "Athens", "Dublin", "Oslo", "Stockholm", "Warsaw", "Prague", "Budapest",
          "Amsterdam", "Brussels", "Zurich", "Geneva", "Munich", "Hamburg", "Milan", "Naples", "Venice", "Barcelona",
          "Seville", "Porto", "Edinburgh", "Glasgow", "Manchester", "Liverpool", "Boston", "Chicago", "Seattle",
          "Denver", "Houston", "Dallas", "Miami", "Atlanta", "Toronto", "Montreal", "Vancouver", "Mexico City",
          "Lima", "Santiago", "Buenos Aires", "Sydney", "Melbourne", "Auckland", "Singapore", "Bangkok", "Hanoi",
          "Seoul", "Osaka", "Kyoto", "Mumbai", "Delhi", "Cairo", "Nairobi", "Lagos", "Istanbul", "Dubai", "Tehran",
          "Norway", "Sweden", "Finland", "Poland", "Greece", "Portugal", "Ireland", "Scotland", "Kenya", "Peru",
          "Chile", "Argentina", "Vietnam", "Thailand", "Korea", "Egypt", "Morocco", "Iceland", "New Zealand"]
PLACE_TEMPLATES = ["How do I get to {p} from here?", "What is the weather like in {p} in {m}?",
                   "Find me a cheap flight to {p} for next {d}.", "What should I see in {p}?",
                   "How long does it take to fly to {p}?", "What time is it in {p} right now?",
                   "Book a hotel in {p} for {n} nights.", "What food is {p} famous for?"]
NAMES = ["Anna", "Ben", "Carlos", "Diana", "Emma", "Farid", "Grace", "Hiro", "Isabel", "James", "Kofi", "Laura",
         "Mohammed", "Nina", "Oliver", "Priya", "Quentin", "Rosa", "Samuel", "Tara", "Victor", "Wei", "Yusuf", "Zoe"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def everyday_words(min_uses: int = 5, fortunes: Iterable[Document] | None = None) -> collections.Counter:
    """Lower-case word -> uses in the fortunes text (the yardstick for a headword in everyday use); `fortunes`
    defaults to every fortune installed."""
    uses: collections.Counter = collections.Counter()
    for doc in fortune_documents() if fortunes is None else fortunes:
        uses.update(w.lower() for w in re.findall(r"[A-Za-z]+", doc.text))
    return collections.Counter({w: n for w, n in uses.items() if n >= min_uses})


def plural(noun: str) -> str:
    """The regular English plural (the templates only need it for everyday nouns)."""
    if noun.endswith(("s", "x", "z", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in tuple("aeiou"):
        return noun[:-1] + "ies"
    return noun + "s"


def headword_questions(rng: random.Random, min_uses: int = 5, per_word: int = 2,
                       fortunes: Iterable[Document] | None = None) -> Iterator[Document]:
    """`per_word` questions about each everyday GCIDE headword, in dictionary order (`fortunes`: as `everyday_words`)."""
    everyday, seen = everyday_words(min_uses, fortunes), set()
    for doc in gcide_documents():
        head, _, rest = doc.text.partition(",")
        word = head.strip(". ").lower()  # the dictionary capitalises every headword
        if not re.fullmatch(r"[a-z]{3,14}", word) or word not in everyday or word in seen:
            continue
        seen.add(word)
        pos = rest.split(".", 1)[0].strip()
        templates = TEMPLATES.get(pos, []) + ANY_WORD
        for k, template in enumerate(rng.sample(templates, min(per_word, len(templates)))):
            text = template.format(w=word, a="an" if word[0] in "aeiou" else "a", ws=plural(word))
            yield Document(f"{doc.id}#q{k}", text, "questions")


def saying_questions(rng: random.Random, max_words: int = 20,
                     fortunes: Iterable[Document] | None = None) -> Iterator[Document]:
    """One question about each short fortune (one or two sentences, `max_words` at most, no dialogue); `fortunes`
    defaults to every fortune installed."""
    for doc in fortune_documents() if fortunes is None else fortunes:
        text = " ".join(doc.text.split())
        sentences = text.count(".") + text.count("?") + text.count("!")
        if len(text.split()) > max_words or sentences > 2 or re.search(r'[:\[\]"*]', text):
            continue  # long, several sentences, or dialogue, quotes and markup
        if not text.endswith((".", "?", "!")):
            text += "."
        yield Document(f"{doc.id}#q", rng.choice(SAYING).format(f=text), "questions")


def _number_request(rng: random.Random) -> str:
    a, b = rng.randint(2, 99), rng.randint(2, 99)
    hour, minute = rng.randint(1, 12), rng.choice([0, 5, 10, 15, 20, 30, 40, 45, 50, rng.randint(1, 59)])
    clock = f"{hour}:{minute:02d}" if minute else f"{hour} o'clock"
    forms = [
        f"What is {a} plus {b}?", f"What is {a} times {b}?", f"What is {max(a, b)} minus {min(a, b)}?",
        f"Set a timer for {rng.randint(2, 90)} minutes.", f"Wake me up at {clock} tomorrow.",
        f"Remind me to call {rng.choice(NAMES)} at {clock} on {rng.choice(DAYS)}.",
        f"Convert {rng.randint(1, 500)} miles to kilometers.", f"Convert {rng.randint(-20, 110)} degrees Fahrenheit to Celsius.",
        f"What is {rng.choice([5, 10, 15, 20, 25, 30, 40, 50, 75])} percent of {rng.randint(10, 2000)}?",
        f"Split a bill of {rng.randint(12, 400)} dollars between {rng.randint(2, 9)} people.",
        f"My birthday is on {rng.choice(MONTHS)} {rng.randint(1, 28)}. How many days is that from today?",
        f"I was born in {rng.randint(1930, 2015)}. How old am I?", f"Add {rng.randint(2, 24)} eggs to my shopping list.",
        f"Is {rng.randint(11, 997)} a prime number?", f"Play the top {rng.randint(3, 50)} songs of {rng.randint(1960, 2023)}.",
        f"How much is {rng.randint(2, 900)} euros in dollars?", f"What happened in the year {rng.randint(1500, 2010)}?",
    ]
    return rng.choice(forms)


def _place_request(rng: random.Random) -> str:
    return rng.choice(PLACE_TEMPLATES).format(p=rng.choice(PLACES), m=rng.choice(MONTHS), d=rng.choice(DAYS),
                                              n=rng.randint(2, 9))


def question_documents(seed: int = 0, numbers: int = 6000, places: int = 1500) -> Iterator[Document]:
    """Headword questions, then saying questions, then `numbers` number requests and `places` place requests.

    Deterministic for a seed: each family draws from its own `random.Random`, so the count of one
    family does not change the text of another.
    """
    fortunes = list(fortune_documents())  # read once: both families use them (~15k short texts)
    yield from headword_questions(random.Random(f"{seed}:headwords"), fortunes=fortunes)
    yield from saying_questions(random.Random(f"{seed}:sayings"), fortunes=fortunes)
    rng = random.Random(f"{seed}:numbers")
    for i in range(numbers):
        yield Document(f"numbers:{i}", _number_request(rng), "questions")
    rng = random.Random(f"{seed}:places")
    for i in range(places):
        yield Document(f"places:{i}", _place_request(rng), "questions")
