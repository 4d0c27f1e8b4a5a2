"""The converted weights behave like the originals, and a real chat call answers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import SAMPLE, SAMPLE_TEXT

from voxlm.assets import ensure_asset
from voxlm.assets.registry import MARKER
from voxlm.audio.io import load_audio
from voxlm.model.modeling_voxlm import load_whisper_encoder, run_encoder
from voxlm.model.processing_voxlm import encoder_frames, log_mel

WHISPERS = ["whisper-tiny.en", "whisper-base"]


def words(text: str) -> list[str]:
    return "".join(c for c in text.lower() if c.isalnum() or c.isspace()).split()


@pytest.mark.parametrize("name", WHISPERS)
def test_encoder_matches_ctranslate2(asset, name):
    ctranslate2 = pytest.importorskip("ctranslate2")
    from transformers import WhisperFeatureExtractor

    folder = asset(name)
    features = WhisperFeatureExtractor.from_pretrained(folder)(
        load_audio(SAMPLE), sampling_rate=16_000, return_tensors="np"
    ).input_features.astype(np.float32)
    with torch.no_grad():
        ours = load_whisper_encoder(folder)(torch.from_numpy(features)).last_hidden_state.numpy()
    reference = ctranslate2.models.Whisper(str(folder / "ct2"), device="cpu", compute_type="float32")
    theirs = np.array(reference.encode(ctranslate2.StorageView.from_array(features)).to_device(ctranslate2.Device.cpu))
    assert np.abs(ours - theirs).max() < 1e-3


@pytest.mark.parametrize("name", WHISPERS)
def test_converted_whisper_transcribes(asset, name):
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    folder = asset(name)
    processor = WhisperProcessor.from_pretrained(folder)
    model = WhisperForConditionalGeneration.from_pretrained(folder).eval()
    features = processor(load_audio(SAMPLE), sampling_rate=16_000, return_tensors="pt").input_features
    kwargs = {"language": "en", "task": "transcribe"} if model.generation_config.is_multilingual else {}
    ids = model.generate(features, max_new_tokens=40, **kwargs)
    text = processor.batch_decode(ids, skip_special_tokens=True)[0]
    assert words(text) == words(SAMPLE_TEXT)


def test_converted_llm_matches_the_gguf_original(asset):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = asset("smollm2-135m-instruct")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    ids = tokenizer("The capital of France is", return_tensors="pt").input_ids
    converted = AutoModelForCausalLM.from_pretrained(folder)
    from voxlm.assets.registry import get_asset

    gguf = get_asset("smollm2-135m-instruct")
    source = gguf.locate(*gguf.parts[0])
    original = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name, dtype=torch.float32)
    with torch.no_grad():
        torch.testing.assert_close(converted(ids).logits, original(ids).logits, atol=1e-4, rtol=1e-4)


def test_ensure_asset_is_a_no_op_once_converted(asset):
    folder = asset("whisper-tiny.en")
    marker = folder / MARKER
    before = marker.stat().st_mtime_ns
    assert ensure_asset("whisper-tiny.en") == folder
    assert marker.stat().st_mtime_ns == before
    assert json.loads(marker.read_text())["asset"] == "whisper-tiny.en"


def test_chat_answers_a_spoken_question(asset):
    asset("whisper-tiny.en"), asset("smollm2-135m-instruct")
    from voxlm.inference import SpeechChat, audio_question

    engine = SpeechChat.load(max_new_tokens=24)
    reply = engine.reply(audio_question(str(SAMPLE)))
    assert reply.text.strip()
    assert 0 < reply.completion_tokens <= 24
    assert reply.seconds_to_first_token is not None


def test_alignment_teaches_a_fresh_connector_the_llm_tokens_of_a_real_clip(asset):
    """A few CTC steps on one real clip: the loss falls, and greedy decoding against the LLM's own
    embedding table starts to spell the question's words."""
    asset("whisper-tiny.en"), asset("smollm2-135m-instruct")
    from voxlm.data.transcripts import TranscriptCollator, TranscriptDataset
    from voxlm.model import VoxLMConfig, VoxLMModel, VoxLMProcessor
    from voxlm.train.objectives import alignment_ctc_loss

    torch.manual_seed(0)
    model = VoxLMModel(VoxLMConfig())
    processor = VoxLMProcessor.from_config(model.config)
    model.bind_tokenizer(processor.tokenizer)
    wave = load_audio(str(SAMPLE))
    with torch.no_grad():
        frames = run_encoder(model.audio_tower, torch.from_numpy(log_mel(processor.feature_extractor, [wave])),
                             torch.tensor([encoder_frames(wave.size)]))[0]

    class Frames(dict):
        def num_frames(self, ref):
            return len(self[ref])

    data = TranscriptDataset({"q": SAMPLE_TEXT}, processor.tokenizer, Frames(q=frames.numpy()), model.blank_token_id)
    batch = TranscriptCollator(data.vocab)([data[0]])
    optimizer = torch.optim.AdamW(model.connector.parameters(), lr=1e-3)
    losses = []
    for _ in range(30):
        out = model(**batch)
        loss = alignment_ctc_loss(out.logits, batch["audio_lengths"], model.config.stack_factor, batch["ctc_labels"],
                                  batch["ctc_vocab"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    best = out.logits[0].argmax(-1)
    emitted = {data.vocab[i - 1] for i in best.tolist() if i > 0}
    assert emitted & set(data.labels[0])


def test_the_default_model_hears_and_answers_the_sample(asset):
    """The embedded default (soft tokens): its own CTC transcript spells the question, and the LLM
    reading it answers it (the question is in none of its training data). The transcript's best path
    says "capital of friends": France is among the 8 tokens each soft token mixes, and the answer shows it."""
    asset("whisper-tiny.en"), asset("smollm2-135m-instruct")
    from voxlm.inference import SpeechChat, audio_question

    engine = SpeechChat.load(max_new_tokens=24)
    assert engine.model.config.interface == "soft_tokens"
    heard = engine.transcribe([str(SAMPLE)])[0].lower()
    assert "what is the capital of" in heard and "answer in one sentence" in heard
    assert "Paris" in engine.reply(audio_question(str(SAMPLE))).text


def test_transcribe_with_beams_reads_the_sample(asset, capsys):
    """`voxlm transcribe --beams 4`: the LLM rescores the sample's best transcripts as wholes."""
    asset("whisper-tiny.en"), asset("smollm2-135m-instruct")
    from voxlm.cli import main

    assert main(["transcribe", str(SAMPLE), "--beams", "4"]) == 0
    heard = capsys.readouterr().out.lower()
    assert "what is the capital of" in heard and "answer in one sentence" in heard


def test_silence_reaches_the_llm_as_an_empty_audio_span(asset):
    asset("whisper-tiny.en"), asset("smollm2-135m-instruct")
    from voxlm.inference import SpeechChat

    engine = SpeechChat.load(max_new_tokens=8)
    silence = np.zeros(16_000 * 3, np.float32)
    assert engine.transcribe([silence]) == [""]
    question = [{"type": "audio", "audio": silence}, {"type": "text", "text": "What is two plus two?"}]
    reply = engine.reply([{"role": "user", "content": question}])
    assert reply.text.strip() and reply.completion_tokens > 0


def test_the_qwen_model_hears_and_answers_the_sample(asset):
    """The second shipped model: its connector writes Qwen's tokens of the question, and after the place-name
    stage (recipes/qwen-scale.yaml) Qwen reads "France" in them and answers (docs/qwen/README.md)."""
    asset("whisper-tiny.en"), asset("qwen2.5-coder-0.5b-instruct")
    from voxlm.inference import SpeechChat, audio_question

    engine = SpeechChat.load("qwen", max_new_tokens=12)
    assert engine.model.config.text_model == "qwen2.5-coder-0.5b-instruct"
    assert "what is the capital of france" in engine.transcribe([str(SAMPLE)])[0].lower()  # "What what is ...": one stutter
    assert "Paris" in engine.reply(audio_question(str(SAMPLE))).text
