"""InSerter interleaving, the training mix, model inputs and the collator, on a tiny random VoxLM."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest
import torch

from voxlm.data.collate import VoxLMCollator
from voxlm.data.corpora.text import Document
from voxlm.data.interleave import (
    IGNORE_INDEX,
    InterleavedSample,
    MixConfig,
    Segment,
    build_inputs,
    choose_sentences,
    choose_word_spans,
    excerpt,
    interleave_sentences,
    interleave_words,
    make_sample,
    mix_samples,
    segments_from_spans,
)

# A small synthetic corpus: documents of 1..12 sentences of 3..18 words, fixed by the seed.
_VOCAB = "the a cat dog sat ran on under mat river quickly slowly house green old new light music over".split()


def _corpus(n_docs: int = 400, seed: int = 0) -> list[Document]:
    rng = random.Random(seed)
    docs = []
    for i in range(n_docs):
        sentences = []
        for _ in range(rng.randint(1, 12)):
            words = [rng.choice(_VOCAB) for _ in range(rng.randint(3, 18))]
            sentences.append(" ".join(words).capitalize() + ".")
        docs.append(Document(f"synthetic:{i}", " ".join(sentences), "synthetic"))
    return docs


def _spoken_words(segments) -> int:
    return sum(len(s.text.split()) for s in segments if s.kind == "speech")


def _tokens(processor, text: str) -> list[int]:
    return processor.tokenizer(text, add_special_tokens=False).input_ids


# ---- span choice ------------------------------------------------------------------------------

def test_segments_from_spans_alternate_and_keep_every_word():
    words = "one two three four five six seven eight nine ten".split()
    segments = segments_from_spans(words, [(0, 2), (5, 8)])
    assert segments == [
        Segment("speech", "one two"), Segment("text", "three four five"),
        Segment("speech", "six seven eight"), Segment("text", "nine ten"),
    ]


@pytest.mark.parametrize("interleave", [interleave_words, interleave_sentences])
def test_interleaving_is_deterministic_under_a_seed(interleave):
    text = _corpus(1, seed=3)[0].text + " " + _corpus(1, seed=4)[0].text
    assert interleave(text, seed=7) == interleave(text, seed=7)
    assert len({tuple(interleave(text, seed=s)) for s in range(20)}) > 1  # and the seed matters


@pytest.mark.parametrize("interleave", [interleave_words, interleave_sentences])
def test_segments_reassemble_the_text(interleave):
    for doc in _corpus(50):
        assert " ".join(s.text for s in interleave(doc.text, seed=1)) == doc.text


def test_word_level_ratio_is_on_target_over_many_documents():
    docs = _corpus()
    ratios, spoken, total = [], 0, 0
    for i, doc in enumerate(docs):
        segments = interleave_words(doc.text, ratio=0.3, seed=i)
        n = len(doc.text.split())
        ratios.append(_spoken_words(segments) / n)
        spoken, total = spoken + _spoken_words(segments), total + n
    assert abs(np.mean(ratios) - 0.3) < 0.08
    assert abs(spoken / total - 0.3) < 0.08


def test_sentence_level_ratio_is_on_target_over_many_documents():
    docs = _corpus()
    ratios, spoken, total = [], 0, 0
    for i, doc in enumerate(docs):
        segments = interleave_sentences(doc.text, ratio=0.4, seed=i)
        n = len(doc.text.split())
        ratios.append(_spoken_words(segments) / n)
        spoken, total = spoken + _spoken_words(segments), total + n
    assert abs(np.mean(ratios) - 0.4) < 0.08
    assert abs(spoken / total - 0.4) < 0.08


def test_word_level_spans_have_at_least_five_words_and_text_between():
    for i, doc in enumerate(_corpus(200)):
        segments = interleave_words(doc.text, ratio=0.3, seed=i)
        for seg in segments:
            if seg.kind == "speech":
                assert 5 <= len(seg.text.split()) <= 20
        kinds = [s.kind for s in segments]
        assert all(a != b for a, b in zip(kinds, kinds[1:]))  # never two speech (or text) segments in a row


def test_word_spans_hit_the_target_exactly_when_it_is_whole():
    # 100 words x 0.3 = 30 spoken words, no rounding involved.
    for seed in range(50):
        spans = choose_word_spans(100, 0.3, random.Random(seed))
        assert sum(end - start for start, end in spans) == 30
        assert all(b[0] > a[1] for a, b in zip(spans, spans[1:]))  # at least one text word between spans


def test_too_short_documents_get_no_span():
    assert choose_word_spans(4, 0.3, random.Random(0)) == []
    assert interleave_words("too short to speak", seed=0) == [Segment("text", "too short to speak")]


def test_sentence_choice_takes_whole_sentences_and_merges_neighbours():
    text = "One two three. Four five six. Seven eight nine. Ten eleven twelve."
    for seed in range(20):
        for seg in interleave_sentences(text, ratio=0.5, seed=seed):
            if seg.kind == "speech":
                assert seg.text.endswith(".") and seg.text[0].isupper()
    assert choose_sentences([3, 3, 3, 3], 0.5, random.Random(0)).__len__() == 2  # 6 of 12 words, exactly


def test_excerpt_keeps_whole_sentences_within_the_limit():
    text = " ".join(f"Sentence number {i} has six words." for i in range(40))  # 240 words
    for seed in range(10):
        cut = excerpt(text, 50, random.Random(seed))
        assert len(cut.split()) <= 50 and len(cut.split()) >= 44
        assert cut.startswith("Sentence") and cut.endswith(".")
    assert excerpt("Short text.", 50, random.Random(0)) == "Short text."


# ---- the mix ----------------------------------------------------------------------------------

def test_mix_follows_the_configured_shares():
    docs = _corpus(1000)
    kinds = Counter(s.kind for s in mix_samples(docs, MixConfig(), seed=0))
    assert abs(kinds["asr"] / 1000 - 0.3) < 0.05
    assert abs(kinds["text"] / 1000 - 0.3) < 0.05
    assert abs((kinds["interleaved-word"] + kinds["interleaved-sentence"]) / 1000 - 0.4) < 0.05
    only_text = Counter(s.kind for s in mix_samples(docs[:50], MixConfig(interleaved=0, speech_tasks=0, text=1)))
    assert only_text == {"text": 50}


def test_samples_do_not_depend_on_document_order():
    docs = _corpus(30)
    forward = {s.doc_id: s for s in mix_samples(docs, seed=5)}
    backward = {s.doc_id: s for s in mix_samples(reversed(docs), seed=5)}
    assert forward == backward


def test_asr_sample_prompt_has_no_loss_and_the_answer_is_the_transcript():
    config = MixConfig(interleaved=0, speech_tasks=1, text=0)
    sample = make_sample(_corpus(1)[0], config, seed=0)
    prompt, speech, answer = sample.segments
    assert sample.kind == "asr" and prompt.loss is False and prompt.text in config.asr_prompts
    assert speech.kind == "speech" and answer.text == speech.text and len(speech.text.split()) <= config.asr_max_words


def test_mix_config_rejects_bad_shares_and_unknown_keys():
    with pytest.raises(ValueError, match="sum to 1"):
        MixConfig(interleaved=0.5, speech_tasks=0.5, text=0.5)
    with pytest.raises(ValueError, match="valid keys are"):
        MixConfig.from_dict({"speech_ratio": 0.3})


def test_sample_round_trips_through_a_dict_and_takes_audio_references():
    sample = make_sample(_corpus(3)[2], MixConfig(interleaved=1, speech_tasks=0, text=0), seed=1)
    assert InterleavedSample.from_dict(sample.to_dict()) == sample
    refs = [f"clip-{i}.wav" for i in range(sample.num_clips)]
    assert [s.audio for s in sample.with_audio(refs).speech_segments] == refs
    with pytest.raises(ValueError, match="audio references"):
        sample.with_audio(refs + ["extra"])


# ---- model inputs -----------------------------------------------------------------------------

SAMPLE = InterleavedSample("d", "interleaved-word", (
    Segment("text", "the quick brown fox"), Segment("speech", "jumps over the lazy dog"), Segment("text", "and the cat sat"),
))


def test_inputs_match_the_processor_expansion_for_raw_audio(make_tiny, tone):
    _, processor = make_tiny()
    wave = tone(1.0)
    inputs = build_inputs(SAMPLE, [wave], processor, add_eos=False)
    reference = processor("the quick brown fox<|audio|> and the cat sat", [wave], sampling_rate=16_000)
    assert inputs["input_ids"].tolist() == reference["input_ids"][0].tolist()
    torch.testing.assert_close(inputs["input_features"], reference["input_features"])
    assert inputs["audio_lengths"].tolist() == [50]


def test_labels_are_ignored_exactly_on_audio_and_on_text_before_it(make_tiny, tone):
    _, processor = make_tiny()
    inputs = build_inputs(SAMPLE, [tone(1.0)], processor)
    ids, labels = inputs["input_ids"], inputs["labels"]
    prefix = len(_tokens(processor, "the quick brown fox"))
    audio = ids == processor.audio_token_id
    assert int(audio.sum()) == 13  # 1 s -> 50 frames -> ceil(50 / 4)
    assert torch.all(labels[audio] == IGNORE_INDEX)
    assert torch.all(labels[:prefix] == IGNORE_INDEX)
    after = ~audio & (torch.arange(len(ids)) >= prefix)
    assert torch.equal(labels[after], ids[after])  # every text token after the audio is a target
    assert ids[-1] == processor.tokenizer.eos_token_id and labels[-1] == ids[-1]

    labelled_prefix = build_inputs(SAMPLE, [tone(1.0)], processor, label_text_before_audio=True)["labels"]
    assert torch.equal(labelled_prefix[:prefix], ids[:prefix])


def test_pure_text_samples_are_labelled_throughout(make_tiny):
    _, processor = make_tiny()
    inputs = build_inputs(InterleavedSample("d", "text", (Segment("text", "hello world"),)), [], processor)
    assert torch.equal(inputs["labels"], inputs["input_ids"])
    assert "audio_lengths" not in inputs


def test_asr_prompt_is_not_a_target(make_tiny):
    _, processor = make_tiny()
    sample = InterleavedSample("d", "asr", (
        Segment("text", "Transcribe:", loss=False), Segment("speech", "hello world"), Segment("text", "hello world"),
    ))
    inputs = build_inputs(sample, [50], processor, label_text_before_audio=True)
    labelled = inputs["labels"] != IGNORE_INDEX
    answer = _tokens(processor, " hello world") + [processor.tokenizer.eos_token_id]
    assert inputs["labels"][labelled].tolist() == answer


def test_cached_frames_and_frame_counts_use_the_processor_arithmetic(make_tiny):
    _, processor = make_tiny()
    frames = torch.randn(77, 16)
    from_frames = build_inputs(SAMPLE, [frames], processor)
    from_count = build_inputs(SAMPLE, [77], processor)
    assert int((from_frames["input_ids"] == processor.audio_token_id).sum()) == 20  # ceil(77 / 4)
    assert torch.equal(from_frames["input_ids"], from_count["input_ids"])
    assert from_frames["audio_lengths"].tolist() == from_count["audio_lengths"].tolist() == [77]
    assert "audio_frames" not in from_count
    with pytest.raises(ValueError, match="one 30 s window"):
        build_inputs(SAMPLE, [1501], processor)
    with pytest.raises(ValueError, match="1 speech segments but 2 clips"):
        build_inputs(SAMPLE, [10, 10], processor)


# ---- collator + model -------------------------------------------------------------------------

def _sample_with_clips(n_clips: int) -> InterleavedSample:
    segments = [Segment("text", "the cat sat")]
    for i in range(n_clips):
        segments += [Segment("speech", "on the mat today please"), Segment("text", f"and then {i} more")]
    return InterleavedSample(f"d{n_clips}", "interleaved-word", tuple(segments))


@pytest.mark.parametrize("audio_form", ["waves", "frames"])
def test_collated_batch_with_0_1_3_clips_runs_through_the_model(make_tiny, tone, audio_form):
    model, processor = make_tiny()
    durations = {0: [], 1: [0.7], 3: [1.0, 0.3, 1.6]}
    features = []
    for n, seconds in durations.items():
        if audio_form == "waves":
            clips = [tone(s) for s in seconds]
        else:
            clips = [torch.randn(int(s * 50), 16) for s in seconds]
        features.append(build_inputs(_sample_with_clips(n), clips, processor))
    batch = VoxLMCollator(processor.tokenizer.pad_token_id)(features)

    longest = max(len(f["input_ids"]) for f in features)
    assert batch["input_ids"].shape == batch["labels"].shape == batch["attention_mask"].shape == (3, longest)
    assert batch["audio_lengths"].tolist() == [35, 50, 15, 80]  # clip order = placeholder order, across the batch
    if audio_form == "waves":
        assert batch["input_features"].shape == (4, 80, 2 * 80 + 2)  # the longest window's mel (1.6 s), one frame of silence after
    else:
        assert batch["audio_frames"].shape == (4, 80, 16)  # zero-padded to the longest clip
        assert torch.all(batch["audio_frames"][0, 35:] == 0)
    for row, f in enumerate(features):
        n = len(f["input_ids"])
        assert torch.all(batch["labels"][row, n:] == IGNORE_INDEX)
        assert torch.all(batch["attention_mask"][row, n:] == 0)
        assert torch.all(batch["input_ids"][row, n:] == processor.tokenizer.pad_token_id)
    audio = batch["input_ids"] == processor.audio_token_id
    assert torch.all(batch["labels"][audio] == IGNORE_INDEX)

    out = model(**batch)
    assert out.logits.shape[:2] == (3, longest)
    assert torch.isfinite(out.loss)


def test_collator_batches_without_any_audio(make_tiny):
    model, processor = make_tiny()
    features = [build_inputs(_sample_with_clips(0), [], processor) for _ in range(2)]
    batch = VoxLMCollator(processor.tokenizer.pad_token_id)(features)
    assert set(batch) == {"input_ids", "attention_mask", "labels"}
    assert torch.isfinite(model(**batch).loss)


def test_collator_rejects_mixed_audio_forms_and_missing_frames(make_tiny, tone):
    _, processor = make_tiny()
    collate = VoxLMCollator(processor.tokenizer.pad_token_id)
    waves = build_inputs(_sample_with_clips(1), [tone(0.5)], processor)
    frames = build_inputs(_sample_with_clips(1), [torch.randn(25, 16)], processor)
    counts = build_inputs(_sample_with_clips(1), [25], processor)
    with pytest.raises(ValueError, match="one audio form"):
        collate([waves, frames])
    with pytest.raises(ValueError, match="attach the cached frames"):
        collate([counts])
    counts["audio_frames"] = [torch.randn(25, 16)]
    assert collate([counts])["audio_frames"].shape == (1, 25, 16)
