"""Connector alignment (`objective: ctc`): the data it reads, the loss, and a tiny run that learns."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from voxlm.data.examples import Example, write_examples
from voxlm.data.interleave import InterleavedSample, Segment
from voxlm.data.transcripts import (
    TranscriptCollator,
    TranscriptDataset,
    drop_held_out,
    edit_distance,
    greedy_ctc_tokens,
    read_transcribed_clips,
)
from voxlm.train.config import load_config
from voxlm.train.objectives import alignment_ctc_loss, sampled_ctc_vocab
from voxlm.train.trainer import Trainer

SENTENCES = ["hello world", "the quick brown fox", "what is said", "the lazy dog"]


class Frames(dict):
    """A FeatureStore stand-in: clip id -> frames `[n, 16]`."""

    def num_frames(self, ref: str) -> int:
        return len(self[ref])


@pytest.fixture
def clips():
    rng = np.random.default_rng(0)
    return Frames({f"c{i}": rng.standard_normal((60 + 8 * i, 16)).astype(np.float32) for i in range(len(SENTENCES))})


def dataset_of(processor, model, frames):
    return TranscriptDataset({f"c{i}": s for i, s in enumerate(SENTENCES)}, processor.tokenizer, frames, model.blank_token_id)


def tiny_run(tmp_path, **overrides):
    """The config of a 60-step alignment run on the tiny model, logging every 10 steps."""
    settings = dict(objective="ctc", output_dir=str(tmp_path), batch_size=4, max_steps=60, learning_rate=1e-2,
                    warmup_steps=1, eval_every=60, save_every=60, log_every=10) | overrides
    return load_config(None, [f"{k}={json.dumps(v)}" for k, v in settings.items()])


def test_alignment_training_lowers_the_held_out_ctc_loss(make_tiny, clips, tmp_path):
    model, processor = make_tiny()
    data = dataset_of(processor, model, clips)
    config = tiny_run(tmp_path, eval_every=60)
    Trainer(config, model, processor, data, data, TranscriptCollator(data.vocab), log=lambda *_: None).fit()
    entries = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    losses = [e["eval_loss"] for e in entries if "eval_loss" in e]
    assert losses[-1] < 0.5 * losses[0]
    assert "ctc" in entries[1] and "ce" not in entries[1]
    rates = [e["eval_token_error_rate"] for e in entries if "eval_loss" in e]
    assert rates[-1] < rates[0]
    assert "token error rate" in (tmp_path / "final" / "README.md").read_text()


def test_alignment_trains_the_encoders_top_layer_at_its_own_learning_rate(make_tiny, clips, tmp_path):
    model, processor = make_tiny(encoder_trainable_layers=1)  # the clips' frames stand for those below the top layer
    frozen = {k: v.clone() for k, v in model.audio_tower.layers[0].state_dict().items()}
    top = {k: v.clone() for k, v in model.audio_tower.layers[1].state_dict().items()}
    data = dataset_of(processor, model, clips)
    trainer = Trainer(tiny_run(tmp_path, encoder_learning_rate=1e-3), model, processor, data, data,
                      TranscriptCollator(data.vocab), log=lambda *_: None)
    assert [g["initial_lr"] for g in trainer.optimizer.param_groups] == [1e-2, 1e-3]
    trainer.fit()
    losses = [json.loads(line)["eval_loss"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()
              if "eval_loss" in line]
    assert losses[-1] < 0.5 * losses[0]
    assert all(torch.equal(model.audio_tower.layers[0].state_dict()[k], v) for k, v in frozen.items())
    assert not torch.equal(model.audio_tower.layers[1].state_dict()["fc1.weight"], top["fc1.weight"])


def test_sampled_candidates_hold_every_target_never_the_blank_and_repeat_from_one_seed():
    labels = torch.tensor([[5, 9, 9, -100], [3, 5, 12, 40]])
    draw = lambda seed: sampled_ctc_vocab(labels, 50, 30, 7, torch.Generator().manual_seed(seed))
    vocab = draw(0)
    assert torch.equal(vocab, torch.unique(vocab)) and set(labels[labels != -100].tolist()) <= set(vocab.tolist())
    assert 7 not in vocab.tolist() and int(vocab.max()) < 50 and len(vocab) > 5
    assert torch.equal(vocab, draw(0)) and not torch.equal(vocab, draw(1))


def test_sampled_candidates_need_the_ctc_objective():
    with pytest.raises(ValueError, match="ctc_negatives"):
        load_config(None, ["ctc_negatives=64"])
    assert load_config(None, ["objective=ctc", "ctc_negatives=64"]).ctc_negatives == 64


def test_alignment_on_sampled_candidates_lowers_the_full_candidate_loss(make_tiny, clips, tmp_path):
    """`ctc_negatives`: training scores each batch against its own tokens plus fresh draws; eval against all."""
    model, processor = make_tiny()
    data = dataset_of(processor, model, clips)
    trainer = Trainer(tiny_run(tmp_path, ctc_negatives=16), model, processor, data, data, TranscriptCollator(data.vocab),
                      log=lambda *_: None)
    labels = TranscriptCollator(data.vocab)([data[0]])["ctc_labels"]
    first = trainer._sampled_vocab(labels, 0)
    assert torch.equal(first, trainer._sampled_vocab(labels, 0))  # a resumed run draws what the first drew
    trainer.position.step += 1
    assert not torch.equal(first, trainer._sampled_vocab(labels, 0))
    trainer.position.step -= 1
    trainer.fit()
    entries = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    losses = [e["eval_loss"] for e in entries if "eval_loss" in e]
    assert losses[-1] < 0.5 * losses[0]


def test_every_eval_measures_hearing_over_the_whole_vocabulary(make_tiny, clips, tmp_path):
    """`hearing_data`: the connector's own transcript (all tokens compete, as at inference) scored at each eval."""
    model, processor = make_tiny()
    data = dataset_of(processor, model, clips)
    config = tiny_run(tmp_path, eval_every=30)
    trainer = Trainer(config, model, processor, data, None, TranscriptCollator(data.vocab), log=lambda *_: None,
                      hearing_set=data)
    before = trainer.hearing()
    batch = TranscriptCollator(data.vocab)([data[i] for i in range(len(data))])
    heard = model.transcribe_clips(batch["audio_lengths"], audio_frames=batch["audio_frames"])
    errors = sum(edit_distance(h, ids) for h, ids in zip(heard, data.labels))
    assert before["hearing_token_error_rate"] == pytest.approx(errors / sum(map(len, data.labels)))
    trainer.fit()
    entries = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    rates = [e["hearing_token_error_rate"] for e in entries if "hearing_token_error_rate" in e]
    assert len(rates) == 3 and rates[0] == pytest.approx(before["hearing_token_error_rate"])
    assert rates[-1] < rates[0]
    assert all(0 <= e["hearing_word_error_rate"] for e in entries if "hearing_word_error_rate" in e)
    assert "hearing: token error rate" in (tmp_path / "final" / "README.md").read_text()


def test_hearing_is_also_scored_at_each_extra_blank_threshold(make_tiny, clips, tmp_path):
    """`hearing_thresholds`: the same clips decoded again at other blank cuts, the model's own left as it is."""
    model, processor = make_tiny()
    data = dataset_of(processor, model, clips)
    config = tiny_run(tmp_path, hearing_thresholds=[0.3, 0.9])
    own_threshold = model.config.blank_threshold
    trainer = Trainer(config, model, processor, data, None, TranscriptCollator(data.vocab), log=lambda *_: None,
                      hearing_set=data)
    result = trainer.hearing()
    batch = TranscriptCollator(data.vocab)([data[i] for i in range(len(data))])
    for threshold in (0.3, 0.9):
        heard = model.transcribe_clips(batch["audio_lengths"], audio_frames=batch["audio_frames"],
                                       blank_threshold=threshold)
        errors = sum(edit_distance(h, ids) for h, ids in zip(heard, data.labels))
        assert result[f"hearing_token_error_rate@{threshold:g}"] == pytest.approx(errors / sum(map(len, data.labels)))
    own = model.transcribe_clips(batch["audio_lengths"], audio_frames=batch["audio_frames"])
    assert result["hearing_token_error_rate"] == pytest.approx(
        sum(edit_distance(h, ids) for h, ids in zip(own, data.labels)) / sum(map(len, data.labels)))
    assert model.config.blank_threshold == own_threshold  # decoding only: the checkpoint keeps its own cut
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        load_config(None, ["hearing_thresholds=[0.3, 1.0]"])


def test_transcribe_clips_reads_each_window_as_transcribe_reads_a_row(make_tiny, clips):
    model, processor = make_tiny()
    data = dataset_of(processor, model, clips)
    batch = TranscriptCollator(data.vocab)([data[i] for i in range(len(data))])
    counts = [int(n) for n in -(-batch["audio_lengths"] // model.config.stack_factor)]
    input_ids = torch.full((len(counts), max(counts)), 0)
    for row, n in enumerate(counts):
        input_ids[row, :n] = model.audio_token_id
    rows = model.transcribe(input_ids, audio_frames=batch["audio_frames"], audio_lengths=batch["audio_lengths"])
    assert model.transcribe_clips(batch["audio_lengths"], audio_frames=batch["audio_frames"]) == rows


def test_hearing_data_must_never_be_trained_on(tmp_path):
    with pytest.raises(ValueError, match="never trained on"):
        load_config(None, [f"train_data=[{tmp_path}/a]", f"hearing_data=[{tmp_path}/b, {tmp_path}/a]"])
    assert load_config(None, [f"train_data=[{tmp_path}/a]", f"hearing_data={tmp_path}/b"]).hearing_data == [f"{tmp_path}/b"]


def test_the_blank_never_appears_in_targets_and_the_vocab_covers_them(make_tiny, clips):
    model, processor = make_tiny()
    data = dataset_of(processor, model, clips)
    assert all(model.blank_token_id not in ids for ids in data.labels)
    assert set(data.vocab) == {i for ids in data.labels for i in ids}
    batch = TranscriptCollator(data.vocab)([data[0], data[1]])
    assert batch["ctc_labels"].shape[0] == batch["audio_frames"].shape[0] == 2
    out = model(**batch)
    loss = alignment_ctc_loss(out.logits, batch["audio_lengths"], model.config.stack_factor, batch["ctc_labels"],
                              batch["ctc_vocab"])
    assert out.logits.shape[-1] == 1 + len(data.vocab) and torch.isfinite(loss)


def test_tokens_outside_the_candidate_vocab_are_refused(make_tiny, clips):
    model, processor = make_tiny()
    data = dataset_of(processor, model, clips)
    batch = TranscriptCollator(data.labels[1])([data[0]])  # "hello world" has tokens "the quick brown fox" lacks
    logits = model(**batch).logits
    with pytest.raises(ValueError, match="missing from ctc_vocab"):
        alignment_ctc_loss(logits, batch["audio_lengths"], model.config.stack_factor, batch["ctc_labels"], batch["ctc_vocab"])


def test_clips_longer_than_one_window_are_left_out(make_tiny, clips):
    model, processor = make_tiny()
    clips["long"] = np.zeros((1600, 16), dtype=np.float32)
    data = TranscriptDataset({"long": "hello", "c0": "hello world"}, processor.tokenizer, clips, model.blank_token_id)
    assert data.refs == ["c0"] and data.skipped_long == 1


def test_transcribed_clips_come_from_examples_and_interleaved_samples(tmp_path):
    chat = Example(id="1", messages=[{"role": "user", "content": [
        {"type": "text", "text": "Summarize."}, {"type": "audio", "audio": "a", "text": "Hello, world!"}]}], response="x")
    spliced = InterleavedSample(doc_id="d", kind="interleaved-word", segments=[
        Segment("text", "before", None, True), Segment("speech", "the lazy dog", "b", False)])
    write_examples(tmp_path / "train.jsonl", [chat, spliced.to_dict()])
    pairs = read_transcribed_clips([tmp_path / "train.jsonl"])
    assert pairs == {"a": "Hello, world!", "b": "the lazy dog"}
    kept, dropped = drop_held_out(pairs, {"z": "hello world"})
    assert kept == {"b": "the lazy dog"} and dropped == 1


def test_ctc_recipes_refuse_kl_and_raw_audio():
    with pytest.raises(ValueError, match="objective 'ctc'"):
        load_config(None, ["objective=ctc", "kl_weight=1"])
    with pytest.raises(ValueError, match="objective must be"):
        load_config(None, ["objective=mse"])


def test_greedy_decoding_merges_repeats_drops_blanks_and_stops_at_the_clip_end():
    vocab = torch.tensor([10, 20, 30])
    best = torch.tensor([[1, 1, 0, 1, 2, 2, 0, 3]])  # candidate indices; 0 = blank
    logits = torch.nn.functional.one_hot(best, 4).float()
    assert greedy_ctc_tokens(logits, torch.tensor([8 * 2]), vocab, stack_factor=2) == [[10, 10, 20, 30]]
    assert greedy_ctc_tokens(logits, torch.tensor([5 * 2]), vocab, stack_factor=2) == [[10, 10, 20]]


def test_edit_distance():
    assert edit_distance([1, 2, 3], [1, 3]) == 1
    assert edit_distance([], [4, 5]) == 2
    assert edit_distance([1, 2], [2, 1]) == 2
