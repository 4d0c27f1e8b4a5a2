"""Specification of the benchmark scores: each value below is worked out by hand in the comment."""

import pytest

from voxlm.eval import asr, generalize, instruct
from voxlm.eval.baselines import Item
from voxlm.eval.metrics import corpus_wer, gap, metric_versions, rouge_l, word_accuracy


def test_rouge_l_is_lcs_f1():
    # LCS "the cat on the mat" = 5 of 6 tokens on both sides: P = R = F = 5/6.
    assert rouge_l("the cat is on the mat", "the cat sat on the mat") == pytest.approx(5 / 6)


def test_rouge_l_identical_and_disjoint():
    assert rouge_l("Rain forms in clouds.", "rain forms in clouds") == 1.0
    assert rouge_l("hello", "goodbye") == 0.0


def test_rouge_l_two_empty_answers_agree():
    assert rouge_l("", "...") == 1.0
    assert rouge_l("something", "") == 0.0


def test_corpus_wer_pools_edits_over_reference_words():
    # 1 deletion (c) + 1 insertion (f) over 3 + 2 reference words.
    assert corpus_wer(["a b c", "d e"], ["a b", "d e f"]) == pytest.approx(2 / 5)


def test_corpus_wer_normalises_case_punctuation_and_spelling():
    assert corpus_wer(["Hello, Mr. Smith!"], ["hello mister smith"]) == 0.0


def test_corpus_wer_skips_empty_references_and_checks_lengths():
    assert corpus_wer(["[]", "red fox"], ["x", "red"]) == pytest.approx(1 / 2)
    assert corpus_wer(["!!"], ["a"]) is None
    with pytest.raises(ValueError, match="2 references but 1"):
        corpus_wer(["a", "b"], ["a"])


def test_word_accuracy_floors_at_zero():
    assert word_accuracy(0.25) == 0.75
    assert word_accuracy(1.5) == 0.0
    assert word_accuracy(None) is None


def test_modality_gap_is_speech_over_text_for_higher_is_better_metrics():
    metrics = {
        "text": {"standard": {"acc": 0.8, "wer": 0.1}, "noisy": {"acc": 0.0, "wer": 0.2}},
        "speech": {"standard": {"acc": 0.4, "wer": 0.3}, "noisy": {"acc": 0.1, "wer": 0.5}},
    }
    result = gap(metrics, {"acc": True, "wer": False})
    assert result == {"standard": {"acc": 0.5}, "noisy": {"acc": None}}  # 0.4/0.8; text 0 -> no ratio


def test_modality_gap_missing_speech_score_is_none():
    metrics = {"text": {"c": {"acc": 0.5}}, "speech": {"c": {"acc": None}}}
    assert gap(metrics, {"acc": True}) == {"c": {"acc": None}}


def _instruct_item(key, ids, kwargs):
    return Item(key, "standard", [], meta={"instruction_id_list": ids, "kwargs": kwargs, "prompt": "p"})


def test_instruct_score_on_hand_checked_responses():
    items = [
        _instruct_item("1", ["punctuation:no_comma"], [{}]),  # passes
        _instruct_item("2", ["change_case:english_lowercase", "punctuation:no_comma"], [{}, {}]),  # fails both
        _instruct_item("3", ["startend:quotation"], [{}]),  # strict fails; loose passes without the first line
    ]
    answers = {"1": "hello world", "2": "Hello, world", "3": 'Sure:\n"hi there"'}
    scores = instruct.score(items, {"speech": answers})["speech"]
    assert scores == pytest.approx({
        "prompt_level_strict_acc": 1 / 3, "inst_level_strict_acc": 1 / 4,
        "prompt_level_loose_acc": 2 / 3, "inst_level_loose_acc": 2 / 4,
    })


def test_generalize_score_agreement_and_transcribe_wer():
    items = [
        Item("t", "train", [], meta={"task": "transcribe", "passage": "the cat sat on the mat"}),
        Item("s", "train", [], meta={"task": "summarize", "passage": "the cat sat on the mat"}),
    ]
    responses = {
        "text": {"t": "the cat sat on the mat", "s": "a cat sits"},
        "speech": {"t": "the cat sat on a mat", "s": "a cat sits"},
    }
    scores = generalize.score(items, responses)
    assert scores["text"] == {"agreement_rouge_l": 1.0, "wer": 0.0, "word_accuracy": 1.0}
    # agreement: mean(5/6 (LCS 5 of 6), 1.0) = 11/12; WER: 1 substitution in 6 words.
    assert scores["speech"]["agreement_rouge_l"] == pytest.approx(11 / 12)
    assert scores["speech"]["wer"] == pytest.approx(1 / 6)
    assert scores["speech"]["word_accuracy"] == pytest.approx(5 / 6)


def test_generalize_without_transcribe_items_has_no_wer():
    items = [Item("s", "held_out_task", [], meta={"task": "title", "passage": "x y"})]
    scores = generalize.score(items, {"text": {"s": "A Title"}, "speech": {"s": "Other"}})
    assert scores["speech"]["wer"] is None and scores["speech"]["word_accuracy"] is None
    assert scores["speech"]["agreement_rouge_l"] == 0.0


def test_asr_score_is_corpus_wer_per_system():
    items = [Item("a", "human", [], meta={"reference": "press one for sales"}),
             Item("b", "human", [], meta={"reference": "thank you"})]
    scores = asr.score(items, {"whisper": {"a": "Press one for sales.", "b": "thank"}})
    assert scores["whisper"] == pytest.approx({"wer": 1 / 6, "word_accuracy": 5 / 6})  # one deletion in 6 words


def test_metric_versions_name_the_pinned_libraries():
    assert set(metric_versions()) == {"rouge-score", "jiwer", "whisper-normalizer"}
