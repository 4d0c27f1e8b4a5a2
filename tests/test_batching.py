"""Batched decoding (`voxlm.inference.decoding.Decoder`, `SpeechChat.replies`, `Batch`): answers decoded together, rows
joining mid-answer, are the answers each conversation gets alone; on tiny random VoxLMs, in seconds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from voxlm.inference import Decoder, Sampling
from voxlm.inference import SpeechChat, audio_question


def conversations(tone) -> list[list[dict]]:
    """Text only, one clip, two clips of other lengths, a clip with text around it: prompts of many lengths."""
    return [
        [{"role": "user", "content": "hello there"}],
        audio_question(tone(0.7)),
        [{"role": "user", "content": [{"type": "audio", "audio": tone(2.3) * 0.5}, {"type": "text", "text": "and"},
                                      {"type": "audio", "audio": tone(1.2) * 0.2}]}],
        audio_question(tone(3.1) * 0.8, "what is said?"),
        [{"role": "user", "content": "a longer text question, with several more words in it than the first"}],
    ]


@pytest.fixture(params=["projector", "soft_tokens"])
def chat(request, make_tiny):
    overrides = {"interface": request.param, "blank_threshold": 0.9} if request.param == "soft_tokens" else {}
    model, processor = make_tiny(**overrides)
    return SpeechChat(model, processor, max_new_tokens=12)


def test_one_row_decodes_exactly_as_transformers_generate(chat, tone):
    for conversation in conversations(tone)[:2]:
        inputs = chat.prepare(conversation)
        expected = chat.model.generate(**inputs, max_new_tokens=12, do_sample=False, eos_token_id=[]).tolist()[0]
        decoder = Decoder(chat.model.language_model, eos_token_ids=[-1])  # no end token: all 12 are compared
        row = decoder.add([chat.embed(inputs)], [Sampling(max_new_tokens=12)])[0]
        while not row.done:
            decoder.step()
        assert row.tokens == expected and row.finish_reason == "length"


def test_a_batch_answers_as_one_at_a_time(chat, tone):
    alone = [chat.reply(c) for c in conversations(tone)]
    together = dict(chat.replies(conversations(tone), batch_size=5))
    assert [together[i].text for i in range(5)] == [r.text for r in alone]
    assert [together[i].completion_tokens for i in range(5)] == [r.completion_tokens for r in alone]
    assert [together[i].prompt_tokens for i in range(5)] == [r.prompt_tokens for r in alone]


def test_rows_joining_mid_answer_get_their_own_answers(chat, tone):
    """A batch of 2 over 5 conversations: each joins where another finished, into a cache of other lengths."""
    alone = [chat.reply(c, max_new_tokens=n) for c, n in zip(conversations(tone), [3, 12, 5, 9, 1])]
    order, together = [], {}
    for i, reply in chat.replies(conversations(tone), batch_size=2, max_new_tokens=[3, 12, 5, 9, 1]):
        order.append(i)
        together[i] = reply
    assert [together[i].text for i in range(5)] == [r.text for r in alone]
    assert [together[i].completion_tokens for i in range(5)] == [r.completion_tokens for r in alone]
    assert sorted(order) == list(range(5)) and order != list(range(5))  # yielded as they finish


def test_batched_logits_match_one_at_a_time_within_fp32_rounding(chat, tone):
    prompts = [chat.embed(chat.prepare(c)) for c in conversations(tone)]
    lm = chat.model.language_model
    with torch.no_grad():
        alone = [lm(inputs_embeds=p[None]).logits[0, -1] for p in prompts]
    decoder = Decoder(lm, eos_token_ids=[-1])
    captured = []
    original = lm.forward
    lm.forward = lambda *a, **k: captured.append(original(*a, **k)) or captured[-1]
    try:
        decoder.add(prompts, [Sampling(max_new_tokens=2)] * len(prompts))
    finally:
        lm.forward = original
    assert torch.allclose(captured[0].logits[:, -1], torch.stack(alone), atol=1e-4, rtol=1e-4)


def test_finished_rows_leave_the_cache_and_its_padding_columns(chat, tone):
    prompts = [chat.embed(chat.prepare(c)) for c in conversations(tone)]
    decoder = Decoder(chat.model.language_model, eos_token_ids=[-1])
    longest = max(range(5), key=lambda i: len(prompts[i]))
    rows = decoder.add(prompts, [Sampling(max_new_tokens=1 if i == longest else 6) for i in range(5)])
    assert rows[longest].done and rows[longest] not in decoder.rows and len(decoder) == 4
    width = max(len(p) for i, p in enumerate(prompts) if i != longest)
    assert decoder._mask.shape == (4, width) and decoder._cache.get_seq_length() == width
    decoder.cancel(decoder.rows[0])
    assert len(decoder) == 3
    while len(decoder):
        decoder.step()
    assert all(r.done for r in rows) and decoder._cache is None


def test_a_seeded_sample_does_not_depend_on_its_batch_mates(chat, tone):
    sampled = {"do_sample": True, "temperature": 1.0, "seed": 1234}
    alone = chat.reply(conversations(tone)[1], **sampled).text
    batch = chat.batch()
    events = batch.add([chat.prepare(c) for c in conversations(tone)],
                       [sampled if i == 1 else {"do_sample": True, "temperature": 1.5} for i in range(5)], range(5))
    answers = {a.key: a for a, _ in events}
    while len(batch):
        batch.step()
    assert answers[1].reply.text == alone


def test_a_conversation_that_fails_to_start_fails_alone(chat, tone):
    batch = chat.batch()
    good = chat.prepare(conversations(tone)[1])
    broken = chat.prepare(conversations(tone)[1])
    broken["input_features"] = broken["input_features"][:, :7]  # its mel no longer covers its audio positions
    events = batch.add([good, broken, good], [{}, {}, {"max_new_tokens": 3}], ["a", "b", "c"])
    answers = {a.key: a for a, _ in events}
    assert answers["b"].done and answers["b"].error is not None and answers["b"].row is None
    while len(batch):
        batch.step()
    assert answers["a"].reply.text == chat.reply(conversations(tone)[1]).text
    assert answers["c"].reply.completion_tokens <= 3


def test_stream_pieces_join_into_the_reply_and_come_as_whole_characters(chat, tone):
    from voxlm.inference import Reply

    whole = chat.reply(conversations(tone)[0])
    reply = Reply(text="", prompt_tokens=0, completion_tokens=0)
    pieces = list(chat.stream(conversations(tone)[0], reply=reply))
    assert "".join(pieces) == reply.text == whole.text
    assert not any(p.endswith("\ufffd") for p in pieces[:-1])  # a token ending mid-character waits for the next


def test_settings_transformers_names_map_to_sampling(chat):
    assert chat.sampling() == Sampling(max_new_tokens=12)
    assert chat.sampling(max_new_tokens=3, do_sample=True, top_p=0.5, seed=7) == Sampling(3, 1.0, 0.5, 7)
    assert chat.sampling(temperature=0.8).temperature == 0.0  # without do_sample, greedy as in transformers
    with pytest.raises(TypeError):
        chat.sampling(num_beams=4)
    with pytest.raises(ValueError, match="batch_size"):
        next(chat.replies([[{"role": "user", "content": "hi"}]], batch_size=0))


def test_top_p_keeps_the_smallest_set_reaching_it():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    from voxlm.inference.decoding import Row

    draws = set()
    for seed in range(200):
        row = Row(1, 1, Sampling(temperature=1.0, top_p=0.75, seed=seed), generator=torch.Generator().manual_seed(seed))
        draws.add(int(Decoder._choose(logits, [row])[0]))
    assert draws == {0, 1}  # 0.5 + 0.3 reaches 0.75; 0.15 and 0.05 never drawn


def test_a_tiny_batch_is_empty_after_it_drains(chat, tone):
    batch = chat.batch()
    assert batch.add([], [], []) == [] and batch.step() == [] and len(batch) == 0
    np.testing.assert_equal(len(list(chat.replies([]))), 0)


def test_the_checkpoints_repetition_penalty_is_applied_as_transformers_does(chat, tone):
    inputs = chat.prepare(conversations(tone)[0])
    chat.model.language_model.generation_config.repetition_penalty = 1.8
    expected = chat.model.generate(**inputs, max_new_tokens=12, do_sample=False).tolist()[0]
    assert SpeechChat(chat.model, chat.processor).sampling().repetition_penalty == 1.8
    decoder = Decoder(chat.model.language_model, eos_token_ids=[chat.processor.tokenizer.eos_token_id])
    row = decoder.add([chat.embed(inputs)], [Sampling(max_new_tokens=12, repetition_penalty=1.8)])[0]
    while not row.done:
        decoder.step()
    assert row.tokens == expected
    chat.model.language_model.generation_config.repetition_penalty = 1.0
