"""Specification of the IFEval checkers (`voxlm.ifeval`): one hand-written pass and fail per
instruction id, loose-mode forgiveness, metric aggregation and error messages; and the package's
place at the bottom of the import graph."""

import random
import subprocess
import sys

import pytest

from voxlm.data.constraints import CONSTRAINT_IDS, sample_constraints
from voxlm.ifeval import (
    CHECKERS,
    SUPPORTED_INSTRUCTIONS,
    UnknownInstructionError,
    aggregate,
    check,
    check_loose,
    describe,
    evaluate_item,
)

IFEVAL_IDS = {
    "keywords:existence", "keywords:forbidden_words", "keywords:frequency",
    "keywords:letter_frequency", "language:response_language",
    "length_constraints:number_sentences", "length_constraints:number_paragraphs",
    "length_constraints:number_words", "length_constraints:nth_paragraph_first_word",
    "detectable_content:number_placeholders", "detectable_content:postscript",
    "detectable_format:number_bullet_lists", "detectable_format:constrained_response",
    "detectable_format:number_highlighted_sections", "detectable_format:multiple_sections",
    "detectable_format:json_format", "detectable_format:title", "combination:two_responses",
    "combination:repeat_prompt", "startend:end_checker", "change_case:capital_word_frequency",
    "change_case:english_capital", "change_case:english_lowercase", "punctuation:no_comma",
    "startend:quotation",
}

END = "Is there anything else I can help with?"
HAIKU = "Write a haiku about rain."

# (instruction id, kwargs, response, strict verdict)
CASES = [
    ("keywords:existence", {"keywords": ["river", "stone"]}, "A River runs past the stone.", True),
    ("keywords:existence", {"keywords": ["river", "stone"]}, "A river runs past the hill.", False),
    ("keywords:forbidden_words", {"forbidden_words": ["very"]}, "Everything is fine.", True),
    ("keywords:forbidden_words", {"forbidden_words": ["very"]}, "It is Very fine.", False),
    ("keywords:frequency", {"keyword": "cat", "frequency": 2, "relation": "at least"}, "Cat and cat.", True),
    ("keywords:frequency", {"keyword": "cat", "frequency": 2, "relation": "at least"}, "One cat.", False),
    ("keywords:frequency", {"keyword": "cat", "frequency": 2, "relation": "less than"}, "One cat.", True),
    ("keywords:letter_frequency", {"letter": "z", "let_frequency": 3, "let_relation": "at least"},
     "Zany zebra zone.", True),
    ("keywords:letter_frequency", {"letter": "z", "let_frequency": 3, "let_relation": "at least"},
     "Zany zebra.", False),
    ("language:response_language", {"language": "es"}, "El gato está en la casa y es muy feliz.", True),
    ("language:response_language", {"language": "es"}, "The cat is in the house and it is happy.", False),
    ("length_constraints:number_sentences", {"num_sentences": 3, "relation": "less than"}, "One. Two!", True),
    ("length_constraints:number_sentences", {"num_sentences": 3, "relation": "less than"},
     "One. Two? Three.", False),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 2}, "First part.\n***\nSecond part.", True),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 2}, "First.\n***\n***\nSecond.", False),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 2}, "Only one paragraph.", False),
    ("length_constraints:number_words", {"num_words": 5, "relation": "less than"}, "Just four words here", True),
    ("length_constraints:number_words", {"num_words": 5, "relation": "less than"}, "Here are five words total", False),
    ("length_constraints:number_words", {"num_words": 5, "relation": "at least"}, "Here are five words total", True),
    ("length_constraints:nth_paragraph_first_word", {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "then"},
     "Start here.\n\nThen, finish.", True),
    ("length_constraints:nth_paragraph_first_word", {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "then"},
     "Start here.\n\nAfter that, finish.", False),
    ("length_constraints:nth_paragraph_first_word", {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "then"},
     "Start.\n\nThen go.\n\nOne more.", False),
    ("detectable_content:number_placeholders", {"num_placeholders": 2}, "Dear [name], see you at [address].", True),
    ("detectable_content:number_placeholders", {"num_placeholders": 2}, "Dear [name], see you.", False),
    ("detectable_content:postscript", {"postscript_marker": "P.S."}, "Hello.\n\nP.S. See you soon.", True),
    ("detectable_content:postscript", {"postscript_marker": "P.S."}, "Hello. See you soon.", False),
    ("detectable_content:postscript", {"postscript_marker": "P.P.S"}, "Hello.\np. p. s. Once more.", True),
    ("detectable_format:number_bullet_lists", {"num_bullets": 2}, "Items:\n* one\n- two", True),
    ("detectable_format:number_bullet_lists", {"num_bullets": 2}, "* one\n* two\n* three", False),
    ("detectable_format:number_bullet_lists", {"num_bullets": 2}, "* one\n---\n**Bold** line\n* two", True),
    ("detectable_format:constrained_response", {}, "I thought about it. My answer is maybe.", True),
    ("detectable_format:constrained_response", {}, "Maybe.", False),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 2}, "*one* and **two**", True),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 2}, "*one* and ** **", False),
    ("detectable_format:multiple_sections", {"section_spliter": "Section", "num_sections": 2},
     "Section 1\nIntro.\nSection 2\nBody.", True),
    ("detectable_format:multiple_sections", {"section_spliter": "Section", "num_sections": 2},
     "Section 1\nAll of it.", False),
    ("detectable_format:json_format", {}, '```json\n{"a": 1}\n```', True),
    ("detectable_format:json_format", {}, '{"a": [1, 2]}', True),
    ("detectable_format:json_format", {}, 'Here: {"a": 1}', False),
    ("detectable_format:title", {}, "<<Ode to Joy>>\nSome text.", True),
    ("detectable_format:title", {}, "<< >>\nSome text.", False),
    ("combination:two_responses", {}, "Answer one.\n******\nAnswer two.", True),
    ("combination:two_responses", {}, "Same.\n******\nSame.", False),
    ("combination:two_responses", {}, "Only one answer.", False),
    ("combination:repeat_prompt", {"prompt_to_repeat": HAIKU}, "write a haiku about rain. Drops fall.", True),
    ("combination:repeat_prompt", {"prompt_to_repeat": HAIKU}, "Sure! Write a haiku about rain.", False),
    ("startend:end_checker", {"end_phrase": END}, f"All done. {END}", True),
    ("startend:end_checker", {"end_phrase": END}, f"All done. {END} Bye.", False),
    ("change_case:capital_word_frequency", {"capital_frequency": 2, "capital_relation": "at least"},
     "This is VERY IMPORTANT.", True),
    ("change_case:capital_word_frequency", {"capital_frequency": 2, "capital_relation": "at least"},
     "This is Very important.", False),
    ("change_case:english_capital", {}, "THIS IS ALL IN CAPITALS.", True),
    ("change_case:english_capital", {}, "THIS IS mostly CAPITALS.", False),
    ("change_case:english_capital", {}, "ESTO ES MUY BUENO Y LA CASA ES GRANDE.", False),
    ("change_case:english_lowercase", {}, "all lowercase here and there.", True),
    ("change_case:english_lowercase", {}, "Not all lowercase.", False),
    ("change_case:english_lowercase", {}, "el gato está en la casa y es muy feliz.", False),
    ("punctuation:no_comma", {}, "No commas here.", True),
    ("punctuation:no_comma", {}, "Yes, commas.", False),
    ("startend:quotation", {}, '  "Quoted answer."\n', True),
    ("startend:quotation", {}, "Quoted answer.", False),
]


def test_registry_is_ifevals_standard_set():
    assert set(SUPPORTED_INSTRUCTIONS) == IFEVAL_IDS == set(CHECKERS)
    assert len(SUPPORTED_INSTRUCTIONS) == 25


def test_every_instruction_has_a_passing_and_a_failing_case():
    for verdict in (True, False):
        assert {c[0] for c in CASES if c[3] is verdict} == IFEVAL_IDS


@pytest.mark.parametrize("instruction_id, kwargs, response, expected", CASES)
def test_strict(instruction_id, kwargs, response, expected):
    assert check(instruction_id, response, kwargs) is expected


@pytest.mark.parametrize("instruction_id, kwargs, response, expected", CASES)
def test_loose_never_below_strict(instruction_id, kwargs, response, expected):
    assert check_loose(instruction_id, response, kwargs) >= expected


LOOSE_ONLY = [
    ("startend:quotation", {}, 'Sure, here it is:\n"Quoted answer."'),
    ("startend:end_checker", {"end_phrase": END}, f"All done. {END}\nLet me know!"),
    ("startend:end_checker", {"end_phrase": END}, f"All done. **{END}**"),
    ("detectable_format:json_format", {}, 'Here is the JSON:\n{"a": 1}\nHope this helps.'),
    ("combination:repeat_prompt", {"prompt_to_repeat": HAIKU}, f"Sure:\n{HAIKU}\nDrops fall."),
    ("detectable_format:number_bullet_lists", {"num_bullets": 2}, "* one\n* two\n- Hope this helps!"),
]


@pytest.mark.parametrize("instruction_id, kwargs, response", LOOSE_ONLY)
def test_loose_forgives_what_strict_does_not(instruction_id, kwargs, response):
    assert not check(instruction_id, response, kwargs)
    assert check_loose(instruction_id, response, kwargs)


def test_loose_does_not_forgive_a_comma_in_the_middle():
    assert not check_loose("punctuation:no_comma", "Intro\nYes, a comma.\nOutro", {})


def test_blank_response_follows_nothing():
    assert not check("punctuation:no_comma", "  \n", {})
    assert not check_loose("punctuation:no_comma", "  \n", {})


@pytest.mark.parametrize("text, expected", [
    ("Dr. Smith left at 3.5 p.m. today. He came back!", 2),  # abbreviations and decimals
    ("Intro:\n1. First item.\n2. Second item.", 2),  # list markers are not sentences
    ("A heading\n\nA body without a stop", 2),  # a blank line ends a sentence
    ('He said "stop." Then he left.', 2),
    ("猫です。犬です。", 2),
])
def test_sentence_counting(text, expected):
    kwargs = {"num_sentences": expected, "relation": "exactly"}
    assert check("length_constraints:number_sentences", text, kwargs)


@pytest.mark.parametrize("code, text", [
    ("en", "The cat sat on the mat and it was happy."),
    ("fr", "Le chat est dans la maison et il ne veut pas sortir."),
    ("de", "Die Katze ist im Haus und sie will nicht nach draußen."),
    ("pt", "O gato está em casa e não quer sair porque é muito feliz."),
    ("ru", "Кошка в доме, и она не хочет выходить, потому что это её дом."),
    ("uk", "Кішка в будинку, і вона не хоче виходити, бо це її дім."),
    ("ar", "القطة في المنزل ولا تريد الخروج لأن هذا هو بيتها."),
    ("fa", "گربه در خانه است و نمی خواهد بیرون برود زیرا این خانه اوست."),
    ("ur", "بلی گھر میں ہے اور وہ باہر نہیں جانا چاہتی کیونکہ یہ اس کا گھر ہے۔"),
    ("hi", "बिल्ली घर में है और वह बाहर नहीं जाना चाहती क्योंकि यह उसका घर है।"),
    ("ja", "猫は家の中にいて、外に出たくないです。"),
    ("zh", "猫在家里，它不想出去，因为这是它的家。"),
    ("ko", "고양이는 집 안에 있고 밖에 나가고 싶지 않아요."),
])
def test_language_heuristic_accepts_the_language_and_rejects_its_neighbours(code, text):
    assert check("language:response_language", text, {"language": code})
    neighbours = {"en": "fr", "fr": "en", "de": "en", "pt": "es", "ru": "uk", "uk": "ru", "ar": "fa",
                  "fa": "ur", "ur": "ar", "hi": "mr", "ja": "zh", "zh": "ja", "ko": "ja"}
    assert not check("language:response_language", text, {"language": neighbours[code]})


def test_language_without_letters_passes_like_ifeval():
    assert check("language:response_language", "42 + 7 = 49", {"language": "de"})


AGGREGATE_ITEMS = [
    # strict [T, T], loose [T, T]
    ("hello world", ["punctuation:no_comma", "length_constraints:number_words"],
     [{}, {"num_words": 5, "relation": "less than"}]),
    # strict [F], loose [T]: the chatty first line is forgiven
    ('Sure, here it is:\n"quoted answer"', ["startend:quotation"], [{}]),
    # strict [F, T], loose [F, T]
    ("hi, there", ["punctuation:no_comma", "change_case:english_lowercase"], [{}, {}]),
    # strict [T, T], loose [T, T]
    ("*WOW* GREAT", ["change_case:english_capital", "detectable_format:number_highlighted_sections"],
     [{}, {"num_highlights": 1}]),
]


def test_evaluate_item_reports_instruction_and_prompt_levels():
    result = evaluate_item(*AGGREGATE_ITEMS[2], prompt="Say hi without commas, in lowercase.")
    assert result["inst_strict"] == [False, True] and result["inst_loose"] == [False, True]
    assert result["prompt_strict"] is False and result["prompt_loose"] is False
    assert result["prompt"] == "Say hi without commas, in lowercase."


def test_aggregate_matches_hand_computed_metrics():
    metrics = aggregate(evaluate_item(r, ids, kw) for r, ids, kw in AGGREGATE_ITEMS)
    assert metrics["prompt_level_strict_acc"] == pytest.approx(2 / 4)
    assert metrics["prompt_level_loose_acc"] == pytest.approx(3 / 4)
    assert metrics["inst_level_strict_acc"] == pytest.approx(5 / 7)
    assert metrics["inst_level_loose_acc"] == pytest.approx(6 / 7)
    assert (metrics["num_prompts"], metrics["num_instructions"]) == (4, 7)


def test_aggregate_of_nothing_is_an_error():
    with pytest.raises(ValueError, match="at least one"):
        aggregate([])


def test_unknown_id_error_names_the_ids_and_how_to_list_supported_ones():
    with pytest.raises(UnknownInstructionError) as err:
        evaluate_item("x", ["punctuation:no_commas", "made:up", "punctuation:no_comma"], [{}, {}, {}])
    message = str(err.value)
    assert "'punctuation:no_commas'" in message and "'made:up'" in message
    assert "did you mean 'punctuation:no_comma'" in message
    assert "SUPPORTED_INSTRUCTIONS" in message
    assert isinstance(err.value, ValueError) and err.value.unknown == ("punctuation:no_commas", "made:up")


def test_unknown_kwarg_names_valid_keys():
    with pytest.raises(ValueError, match=r"unknown kwargs \['num_word'\]; valid keys are \['num_words', 'relation'\]"):
        check("length_constraints:number_words", "hi", {"num_word": 3, "relation": "at least"})


def test_missing_kwarg_is_an_error_not_a_random_default():
    with pytest.raises(ValueError, match=r"missing kwargs \['relation'\]"):
        check("length_constraints:number_words", "hi", {"num_words": 3})


def test_none_valued_kwargs_are_ignored_as_in_the_hf_copy_of_ifeval():
    assert check("punctuation:no_comma", "hi", {"num_words": None, "relation": None})


@pytest.mark.parametrize("key, value, hint", [
    ("relation", "fewer than", "valid relations are"),
    ("language", "xx", "supported codes are"),
])
def test_bad_kwarg_values_name_the_valid_ones(key, value, hint):
    kwargs = {"relation": {"num_words": 3, "relation": value}, "language": {"language": value}}[key]
    instruction_id = {"relation": "length_constraints:number_words", "language": "language:response_language"}[key]
    with pytest.raises(ValueError, match=hint):
        check(instruction_id, "hi", kwargs)


def test_describe_examples():
    assert describe("length_constraints:number_words", {"num_words": 50, "relation": "less than"}) == (
        "Answer with less than 50 words.")
    assert describe("punctuation:no_comma", {}) == "Do not use any commas in your response."
    assert describe("keywords:existence", {"keywords": ["rain", "umbrella"]}) == (
        "Include the keywords rain and umbrella in your response.")
    assert describe("length_constraints:nth_paragraph_first_word",
                    {"num_paragraphs": 3, "nth_paragraph": 2, "first_word": "then"}) == (
        "Write exactly 3 paragraphs, separated by blank lines, and start the second paragraph "
        "with the word then.")
    assert describe("language:response_language", {"language": "fr"}) == (
        "Your entire response should be in French, no other language is allowed.")


@pytest.mark.parametrize("instruction_id", sorted(IFEVAL_IDS))
def test_describe_renders_a_sentence_for_every_id(instruction_id):
    kwargs = next(kw for i, kw, _, _ in CASES if i == instruction_id)
    sentence = describe(instruction_id, kwargs)
    assert sentence[0].isupper() and sentence.rstrip('"').endswith((".", "?"))
    assert "{" not in sentence and "None" not in sentence


def test_ifeval_imports_nothing_else_from_voxlm():
    # A fresh interpreter: in this one, other tests have already imported the rest of voxlm.
    code = "import sys, voxlm.ifeval; print(*sorted(m for m in sys.modules if m.startswith('voxlm')))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert [m for m in loaded if m != "voxlm" and not m.startswith("voxlm.ifeval")] == []


def test_sampled_constraints_are_ones_the_checkers_take():
    rng = random.Random(0)
    drawn = [c for _ in range(200) for c in sample_constraints(rng, 3)]
    assert {i for i, _, _ in drawn} == set(CONSTRAINT_IDS) <= set(SUPPORTED_INSTRUCTIONS)
    for instruction_id, kwargs, sentence in drawn:
        assert set(kwargs) == set(CHECKERS[instruction_id].kwargs)
        assert sentence == describe(instruction_id, kwargs)
