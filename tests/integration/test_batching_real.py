"""Batched decoding on the real default model (Whisper tiny.en -> connector -> SmolLM2-135M, fp32, CPU): a batch
answers as each conversation does alone, for both audio interfaces.

Tolerance: a left-padded batch runs other matrix shapes, so its fp32 sums are rounded differently. The
next-token logits after prefill may differ from the ones computed alone by at most 1e-3 (measured on these
conversations: 4.9e-5 with soft tokens, 4.2e-5 with the projector, logits of magnitude ~20); greedy answers
must be the same tokens.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import SAMPLE

from voxlm.audio.io import load_audio
from voxlm.inference import Decoder, Sampling

LOGIT_TOLERANCE = 1e-3


def conversations() -> list[list[dict]]:
    """Clips of three lengths (the sample, the sample after 1.5 s of silence, its first half), text alone, text and
    audio mixed: prompts of many lengths in one batch."""
    from voxlm.inference import audio_question

    wave = load_audio(str(SAMPLE))
    padded = np.concatenate([np.zeros(24_000, np.float32), wave])
    return [
        audio_question(wave),
        [{"role": "user", "content": "What is the largest ocean on Earth? Answer in one sentence."}],
        audio_question(padded, "Answer briefly."),
        audio_question(wave[: wave.size // 2]),
        [{"role": "user", "content": [{"type": "text", "text": "Listen:"}, {"type": "audio", "audio": wave},
                                      {"type": "text", "text": "Now answer it."}]}],
    ]


@pytest.fixture(scope="module", params=["soft_tokens", "projector"])
def chat(request, asset):
    asset("whisper-tiny.en"), asset("smollm2-135m-instruct")
    from voxlm.inference import SpeechChat

    return SpeechChat.load(config_overrides={"interface": request.param}, max_new_tokens=24)


def test_a_real_batch_answers_as_one_at_a_time(chat):
    alone = [chat.reply(c) for c in conversations()]
    together = dict(chat.replies(conversations(), batch_size=5))
    assert [together[i].text for i in range(5)] == [r.text for r in alone]
    assert [together[i].completion_tokens for i in range(5)] == [r.completion_tokens for r in alone]
    assert all(r.completion_tokens > 0 for r in alone)


def test_real_batched_logits_are_the_alone_logits_within_the_stated_tolerance(chat):
    prompts = [chat.embed(chat.prepare(c)) for c in conversations()]
    assert len({p.shape[0] for p in prompts}) == len(prompts)  # every row is padded differently
    lm = chat.model.language_model
    with torch.no_grad():
        alone = torch.stack([lm(inputs_embeds=p[None]).logits[0, -1] for p in prompts])
    captured = []
    original = lm.forward
    lm.forward = lambda *a, **k: captured.append(original(*a, **k)) or captured[-1]
    try:
        Decoder(lm, eos_token_ids=[-1]).add(prompts, [Sampling(max_new_tokens=2)] * len(prompts))
    finally:
        lm.forward = original
    difference = (captured[0].logits[:, -1] - alone).abs().max().item()
    assert difference <= LOGIT_TOLERANCE, f"batched logits differ from alone by {difference:.2e}"
