"""The soft-token interface and the connector's CTC transcript, on hand-made logits and tiny random models."""

from __future__ import annotations

import itertools
import json

import pytest
import torch

from voxlm.model import VoxLMConfig, VoxLMModel
from voxlm.model.soft_tokens import (
    _nbest, clip_starts, greedy_ctc, llm_beam_fusion, llm_fusion_scores, soft_token_mix, top_candidates,
)

BLANK = 0


def one_hot_logits(best: list[int], vocab: int = 5, margin: float = 10.0) -> torch.Tensor:
    """Positions whose likeliest token is `best[i]`, by a wide margin."""
    logits = torch.zeros(len(best), vocab)
    logits[torch.arange(len(best)), torch.tensor(best)] = margin
    return logits


def test_greedy_ctc_drops_blanks_and_merges_repeats_within_a_clip():
    # clip 1: a a _ a b b ; clip 2: b c   (the clip boundary sits between the two b's)
    logits = one_hot_logits([1, 1, BLANK, 1, 2, 2, 2, 3])
    new_clip = torch.tensor([True, False, False, False, False, False, True, False])
    tokens, keep = greedy_ctc(logits, BLANK, 0.5, new_clip)
    assert keep.tolist() == [True, False, False, True, True, False, True, True]
    assert tokens[keep].tolist() == [1, 1, 2, 2, 3]  # a blank between two a's keeps both; b b merge


def test_blank_threshold_decides_what_counts_as_blank():
    # blank probability ~0.6 at position 0 and ~0.1 at position 1
    logits = torch.log(torch.tensor([[0.6, 0.3, 0.1], [0.1, 0.8, 0.1]]))
    new_clip = torch.tensor([True, False])
    assert greedy_ctc(logits, BLANK, 0.5, new_clip)[1].tolist() == [False, True]
    assert greedy_ctc(logits, BLANK, 0.7, new_clip)[1].tolist() == [True, False]  # now a repeat of token 1
    assert greedy_ctc(logits, BLANK, 0.05, new_clip)[1].tolist() == [False, False]


def test_best_token_never_is_the_blank():
    logits = torch.log(torch.tensor([[0.7, 0.1, 0.2]]))
    tokens, keep = greedy_ctc(logits, BLANK, 0.9, torch.tensor([True]))
    assert tokens.tolist() == [2] and keep.tolist() == [True]


def test_clip_starts_follow_runs_of_audio_positions_in_row_major_order():
    is_audio = torch.tensor([[False, True, True, False, True], [True, True, False, False, False]])
    assert clip_starts(is_audio).tolist() == [True, False, True, True, False]


def test_mix_is_the_renormalised_top_k_of_real_embeddings():
    table = torch.eye(4)  # token i's embedding is the unit vector e_i; token 0 is the blank
    positions = torch.tensor([[5.0, 1.0, 2.0, 0.0]])
    logits = positions @ table.T
    mixed = soft_token_mix(positions, table, top_candidates(logits, BLANK, 2))
    # top 2 non-blank: tokens 2 (score 2) and 1 (score 1); the blank's high score is ignored
    p = torch.tensor([2.0, 1.0]).softmax(0)
    torch.testing.assert_close(mixed, torch.tensor([[0.0, p[1], p[0], 0.0]]))


def test_a_logit_scale_sharpens_the_mix_as_it_sharpened_the_logits():
    table = torch.eye(4)
    positions = torch.tensor([[5.0, 1.0, 2.0, 0.0]])
    mixed = soft_token_mix(positions, table, top_candidates(positions @ table.T * 3.0, BLANK, 2), scale=3.0)
    p = torch.tensor([6.0, 3.0]).softmax(0)
    torch.testing.assert_close(mixed, torch.tensor([[0.0, p[1], p[0], 0.0]]))


def test_every_score_against_the_embedding_table_carries_the_alignment_logit_scale(make_tiny, tone):
    """Transcript, soft-token mix and alignment CTC all read one scale, so a model trained with it reads as it trained."""
    plain, processor = make_tiny(interface="soft_tokens", blank_threshold=1.0)
    scaled, _ = make_tiny(interface="soft_tokens", blank_threshold=1.0, alignment_logit_scale=4.0)
    scaled.connector.load_state_dict(plain.connector.state_dict())
    batch = processor("<|audio|> hi", [tone(1.0)], sampling_rate=16_000)
    lengths, features = batch["audio_lengths"], batch["input_features"]
    positions = plain.encode_audio(lengths, features)
    torch.testing.assert_close(scaled.audio_token_logits(positions), 4.0 * plain.audio_token_logits(positions))
    vocab = torch.tensor([3, 5, 7])
    torch.testing.assert_close(scaled.alignment_logits(vocab, lengths, features),
                               4.0 * plain.alignment_logits(vocab, lengths, features))
    table = plain.language_model.get_input_embeddings().weight
    logits = scaled.audio_token_logits(positions)
    expected = soft_token_mix(positions, table, top_candidates(logits, scaled.blank_token_id, scaled.config.soft_token_top_k),
                              4.0)
    embeds, _ = scaled.embed_inputs(batch["input_ids"], features, audio_lengths=lengths)
    torch.testing.assert_close(embeds[batch["input_ids"] == scaled.audio_token_id], expected)
    with pytest.raises(ValueError, match="alignment_logit_scale"):
        make_tiny(alignment_logit_scale=0.0)


def test_mix_is_differentiable_into_the_connector(make_tiny, tone):
    model, processor = make_tiny(interface="soft_tokens", blank_threshold=1.0)  # nothing dropped
    model.train()
    batch = processor("<|audio|> hello world", [tone(1.0)], sampling_rate=16_000, text_target="the quick")
    loss = model(**batch).loss
    loss.backward()
    grads = [p.grad for p in model.connector.parameters()]
    assert all(g is not None for g in grads) and sum(g.abs().sum() for g in grads) > 0
    assert all(p.grad is None for p in model.language_model.parameters())


def compact_reference_logits(model, processor, text: str, wave) -> torch.Tensor:
    """What the LLM gives for the sequence with the dropped positions really removed (the spec)."""
    batch = processor(text, [wave], sampling_rate=16_000)
    ids = batch["input_ids"][0]
    is_audio = ids == processor.audio_token_id
    positions = model.encode_audio(batch["audio_lengths"], batch["input_features"])
    logits = model.audio_token_logits(positions)
    _, keep = greedy_ctc(logits, model.blank_token_id, model.config.blank_threshold, clip_starts(is_audio[None]))
    table = model.language_model.get_input_embeddings().weight
    mixed = soft_token_mix(positions, table, top_candidates(logits, model.blank_token_id, model.config.soft_token_top_k))
    pieces, audio = [], iter(zip(mixed, keep))
    for token, audio_here in zip(ids.tolist(), is_audio.tolist()):
        if not audio_here:
            pieces.append(table[token])
        else:
            vector, kept = next(audio)
            if kept:
                pieces.append(vector)
    return model.language_model(inputs_embeds=torch.stack(pieces)[None]).logits[0, -1], int(keep.sum())


@pytest.mark.parametrize("threshold", [0.5, 0.9])
def test_the_llm_reads_the_compacted_sequence(make_tiny, tone, threshold):
    model, processor = make_tiny(interface="soft_tokens", blank_threshold=threshold)
    wave = tone(2.0)
    text = "hello <|audio|> what is said"
    with torch.no_grad():
        expected, kept = compact_reference_logits(model, processor, text, wave)
        batch = processor(text, [wave], sampling_rate=16_000)
        got = model(**batch).logits[0, -1]
    n_audio = int((batch["input_ids"] == processor.audio_token_id).sum())
    assert 0 < kept < n_audio  # some positions dropped, some kept: the case that needs the masking
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("fusion, beams", [(0.0, 1), (2.0, 1), (2.0, 4)])
def test_a_left_padded_batch_of_different_clips_answers_as_one_at_a_time(make_tiny, tone, fusion, beams):
    model, processor = make_tiny(interface="soft_tokens", blank_threshold=0.9, lm_fusion_weight=fusion,
                                 lm_fusion_beams=beams)
    processor.tokenizer.padding_side = "left"
    texts = ["<|audio|> what is said", "hello world <|audio|> and <|audio|>"]
    clips = [[tone(0.7)], [tone(2.3) * 0.5, tone(1.2) * 0.2]]
    singles = []
    with torch.no_grad():
        for text, audio in zip(texts, clips):
            singles.append(model.generate(**processor(text, audio, sampling_rate=16_000), max_new_tokens=6,
                                          do_sample=False)[0].tolist())
        batch = processor(texts, [c for row in clips for c in row], sampling_rate=16_000)
        together = model.generate(**batch, max_new_tokens=6, do_sample=False).tolist()
    assert together == singles


def test_a_clip_that_is_all_blank_leaves_an_empty_audio_span(make_tiny, tone):
    model, processor = make_tiny(interface="soft_tokens", blank_threshold=0.0)  # every position counts as blank
    with torch.no_grad():
        with_clip = processor("<|audio|> what is said", [tone(1.0)], sampling_rate=16_000)
        out = model.generate(**with_clip, max_new_tokens=5, do_sample=False)
        text_only = processor(" what is said", None)  # the text around the placeholder, as tokenized there
        plain = model.generate(**text_only, max_new_tokens=5, do_sample=False)
        assert model.transcribe(**with_clip) == [[]]
    assert out.tolist() == plain.tolist()  # the LLM answers as the text alone says


def test_transcribe_gives_the_tokens_soft_tokens_hand_the_llm(make_tiny, tone):
    model, processor = make_tiny(interface="soft_tokens", blank_threshold=0.9)
    clips = [tone(1.5), tone(0.6) * 0.3]
    batch = processor(["<|audio|>", "<|audio|>"], clips, sampling_rate=16_000)
    with torch.no_grad():
        both = model.transcribe(**batch)
        one_by_one = [model.transcribe(**processor("<|audio|>", [c], sampling_rate=16_000))[0] for c in clips]
        positions = model.encode_audio(batch["audio_lengths"], batch["input_features"])
        tokens, keep = greedy_ctc(model.audio_token_logits(positions), model.blank_token_id, 0.9,
                                  clip_starts(batch["input_ids"] == processor.audio_token_id))
    assert both == one_by_one
    assert sum(map(len, both)) == int(keep.sum()) > 0
    assert both[0] + both[1] == tokens[keep].tolist()


def test_fusion_scores_are_the_llms_own_log_probabilities_clip_by_clip(make_tiny):
    """One left-padded pass over every clip gives what the LLM gives each clip alone, teacher-forced on its best guesses."""
    model, _ = make_tiny()
    lm = model.language_model
    contexts = [[5, 9, 2], [], [7]]
    candidates = [torch.tensor([[11, 12], [13, 14], [15, 16]]), torch.tensor([[3, 4], [6, 8]]), torch.tensor([[20, 21]])]
    with torch.no_grad():
        got = llm_fusion_scores(lm, contexts, candidates)
        for ctx, cand, scores in zip(contexts, candidates, got):
            assert scores.shape == cand.shape
            assert scores[0].tolist() == [0.0, 0.0]  # a clip's first token: no LLM term
            row = torch.tensor([ctx + cand[:, 0].tolist()])
            expected = lm(input_ids=row).logits[0].float().log_softmax(-1)
            for j in range(1, len(cand)):
                torch.testing.assert_close(scores[j], expected[len(ctx) + j - 1, cand[j]], atol=1e-4, rtol=1e-4)


def test_a_heavy_fusion_weight_lets_the_llm_choose_among_the_candidates(make_tiny, tone):
    model, processor = make_tiny(interface="soft_tokens", blank_threshold=0.95, soft_token_top_k=4)
    batch = processor("hello <|audio|>", [tone(2.0)], sampling_rate=16_000)
    with torch.no_grad():
        greedy = model.transcribe(**batch)[0]
        model.config.lm_fusion_weight = 1000.0
        fused = model.transcribe(**batch)[0]
        positions = model.encode_audio(batch["audio_lengths"], batch["input_features"])
        logits = model.audio_token_logits(positions)
        _, keep = greedy_ctc(logits, model.blank_token_id, 0.95, torch.arange(len(logits)) == 0)
        picked = top_candidates(logits, model.blank_token_id, 4)[keep]
        context = batch["input_ids"][0][batch["input_ids"][0] != model.audio_token_id].tolist()
        scores = llm_fusion_scores(model.language_model, [context], [picked])[0]
    assert len(picked) > 2
    expected = [int(picked[0, 0])] + [int(picked[j, scores[j].argmax()]) for j in range(1, len(picked))]
    expected = [t for j, t in enumerate(expected) if j == 0 or t != expected[j - 1]]  # fused repeats merge
    assert fused == expected
    assert fused != greedy  # the random LLM disagrees with the random connector somewhere


def test_nbest_is_the_best_paths_by_total_score():
    torch.manual_seed(0)
    local = torch.randn(4, 3)
    every = sorted(itertools.product(range(3), repeat=4), key=lambda p: -float(sum(local[j, c] for j, c in enumerate(p))))
    assert [tuple(p) for p in _nbest(local, 5).tolist()] == every[:5]
    assert len(_nbest(local, 1000)) == 81


def test_beam_fusion_picks_the_transcript_with_the_best_ctc_plus_weighted_llm_score(make_tiny):
    """With beams covering every path, the choice is the exhaustive best; adjacent equal tokens merge, unscored."""
    model, _ = make_tiny()
    lm = model.language_model
    torch.manual_seed(1)
    context, weight = [5, 9, 2], 0.7
    candidates = torch.tensor([[11, 12], [12, 14], [15, 16], [15, 17]])
    follows = torch.tensor([False, True, False, True])
    ctc = torch.randn(4, 2)

    def spelled(path):
        tokens = [int(candidates[j, c]) for j, c in enumerate(path)]
        return [t for j, t in enumerate(tokens) if not (j and follows[j] and t == tokens[j - 1])]

    def total(path):
        tokens = spelled(path)
        logp = lm(input_ids=torch.tensor([context + tokens])).logits[0].float().log_softmax(-1)
        llm = sum(float(logp[len(context) + t - 1, tokens[t]]) for t in range(1, len(tokens)))
        return float(sum(ctc[j, c] for j, c in enumerate(path))) + weight * llm

    with torch.no_grad():
        best = max(itertools.product(range(2), repeat=4), key=total)
        (choice, bias), = llm_beam_fusion(lm, [context], [candidates], [ctc], [follows], weight, beams=16)
        (other, _), = llm_beam_fusion(lm, [context], [candidates], [ctc], [follows], weight=0.0, beams=16)
    assert tuple(choice.tolist()) == best
    assert other.tolist() == ctc.argmax(1).tolist()  # no LLM: the best path by CTC alone
    assert (ctc + bias).argmax(1).tolist() == choice.tolist()  # the chosen transcript leads every mix
    others = torch.ones(2, dtype=torch.bool)
    others[choice[0]] = False
    assert bias[0][others].abs().max() == 0  # the first token is not judged by the LLM, only lifted to lead


def test_beam_fusion_reads_the_chosen_transcript(make_tiny, tone):
    """`transcribe` and the soft tokens agree with beams too: the best guesses are the rescored transcript."""
    model, processor = make_tiny(interface="soft_tokens", blank_threshold=0.95, soft_token_top_k=3,
                                 lm_fusion_weight=3.0, lm_fusion_beams=6)
    batch = processor("hello <|audio|>", [tone(2.0)], sampling_rate=16_000)
    with torch.no_grad():
        heard = model.transcribe(**batch)[0]
        positions = model.encode_audio(batch["audio_lengths"], batch["input_features"])
        picked, bias, keep, best = model._read_positions(positions, batch["input_ids"], torch.ones_like(batch["input_ids"]))
        logits = model.audio_token_logits(positions)
    assert heard == best[keep].tolist() and len(heard) > 2
    leaders = picked.gather(1, (logits.gather(1, picked) + bias).argmax(1, keepdim=True))[:, 0]
    assert leaders[keep].tolist() == heard


def test_training_never_fuses(make_tiny, tone):
    model, processor = make_tiny(interface="soft_tokens", blank_threshold=0.95, lm_fusion_weight=5.0)
    batch = processor("hello <|audio|>", [tone(2.0)], sampling_rate=16_000)
    model.train()
    fused_config = model.embed_inputs(batch["input_ids"], batch["input_features"], audio_lengths=batch["audio_lengths"])
    model.config.lm_fusion_weight = 0.0
    plain = model.embed_inputs(batch["input_ids"], batch["input_features"], audio_lengths=batch["audio_lengths"])
    torch.testing.assert_close(fused_config, plain)
    model.eval()
    model.config.lm_fusion_weight = 5.0
    with torch.no_grad():
        inference = model.embed_inputs(batch["input_ids"], batch["input_features"], audio_lengths=batch["audio_lengths"])
    assert not torch.allclose(inference[0], plain[0].detach())


def test_checkpoints_round_trip_the_interface_settings(make_tiny, tmp_path):
    model, _ = make_tiny(interface="soft_tokens", blank_threshold=0.7, soft_token_top_k=3, lm_fusion_weight=0.5,
                         lm_fusion_beams=4)
    model.save_pretrained(tmp_path)
    config = VoxLMConfig.from_pretrained(tmp_path)
    assert (config.interface, config.blank_threshold, config.soft_token_top_k, config.lm_fusion_weight,
            config.lm_fusion_beams) == ("soft_tokens", 0.7, 3, 0.5, 4)


def test_checkpoints_from_before_the_interface_setting_load_as_projector(make_tiny, tmp_path):
    model, _ = make_tiny()
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    for key in ("interface", "blank_threshold", "soft_token_top_k"):
        saved.pop(key)
    (tmp_path / "config.json").write_text(json.dumps(saved))
    torch.manual_seed(0)
    restored = VoxLMModel.from_pretrained(tmp_path)
    assert restored.config.interface == "projector"


def test_interface_settings_are_checked():
    with pytest.raises(ValueError, match="interface must be one of projector, soft_tokens"):
        VoxLMConfig(interface="adapter")
    with pytest.raises(ValueError, match="lm_fusion_weight"):
        VoxLMConfig(lm_fusion_weight=-1.0)
    with pytest.raises(ValueError, match="lm_fusion_beams"):
        VoxLMConfig(lm_fusion_beams=0)
    with pytest.raises(ValueError, match="blank_threshold"):
        VoxLMConfig(blank_threshold=1.5)
