"""Specification of `voxlm features` (voxlm.data.features): cached encoder frames and the stores that read them.

A tiny random WhisperEncoder (d_model 16, 2 layers) stands in for Whisper, so encoding a window
takes milliseconds; speech comes from a deterministic fake TTS. The one test with the real
tiny.en weights is marked `integration`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import shutil

import numpy as np
import pytest
import torch
from transformers import WhisperConfig, WhisperFeatureExtractor
from transformers.models.whisper.modeling_whisper import WhisperEncoder

import voxlm.data.synth as synth
from voxlm.data.features import (
    AudioStore,
    FeatureStore,
    add_features_arguments,
    compute_features,
    encode_clips,
    features_dir,
    run_features,
)
from voxlm.model.processing_voxlm import encoder_frames, split_windows
from voxlm.tts import check_speakable

SR = 16_000


def fake_speak(text: str, voice: str) -> np.ndarray:
    """Deterministic TTS stand-in: noise seeded by voice and text, 0.3 s per word ("LONG" makes 65 s)."""
    text = check_speakable(text)
    seed = int.from_bytes(hashlib.sha256(f"{voice}|{text}".encode()).digest()[:8], "little")
    n = 65 * SR if "LONG" in text else int(0.3 * SR) * len(text.split())
    return (0.1 * np.random.default_rng(seed).standard_normal(n)).astype(np.float32)


@pytest.fixture(scope="module")
def tiny_encoder():
    torch.manual_seed(0)
    config = WhisperConfig(d_model=16, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=32, num_mel_bins=80)
    return WhisperEncoder(config).eval(), WhisperFeatureExtractor(feature_size=80)


def reference_frames(wave: np.ndarray, encoder, extractor) -> np.ndarray:
    """HF's own Whisper encoder run on one <= 30 s window at its real length, float16: a copy whose
    positional table is cut to the window's frames, fed the window's mel (silence-padded by one frame)."""
    frames = encoder_frames(wave.size)
    short = WhisperEncoder(WhisperConfig(**{**encoder.config.to_dict(), "max_source_positions": frames})).eval()
    state = encoder.state_dict()
    short.load_state_dict({**state, "embed_positions.weight": state["embed_positions.weight"][:frames]})
    mel = extractor([wave], sampling_rate=SR, return_tensors="np", padding="max_length",
                    max_length=(frames + 1) * 320).input_features[:, :, : 2 * frames]
    with torch.no_grad():
        out = short(torch.from_numpy(mel)).last_hidden_state[0]
    return out.to(torch.float16).numpy()


@pytest.fixture
def make_synth(tmp_path, monkeypatch):
    """`make_synth(texts, name="speech", shard_size=3) -> synth folder` built with the fake TTS."""
    monkeypatch.setattr(synth, "speak", fake_speak)
    monkeypatch.setattr(synth, "_check_engines", lambda voices: None)

    def make(texts, name="speech", shard_size=3):
        requests = tmp_path / f"{name}.jsonl"
        requests.write_text("".join(json.dumps({"id": f"c{i}", "text": t}) + "\n" for i, t in enumerate(texts)))
        out = tmp_path / name
        synth.synthesize(requests, out, voices="flite:slt,espeak:en-us", shard_size=shard_size,
                         progress=False, log=lambda m: None)
        return out

    return make


TEXTS = ["one", "two words", "now three words", "a b c d", "five words in a row", "six"]


def features(synth_dir, encoder_pair, **kwargs):
    encoder, extractor = encoder_pair
    kwargs = {"progress": False, "log": lambda m: None, "batch_size": 4, **kwargs}
    return compute_features(synth_dir, "tiny-random", encoder=encoder, feature_extractor=extractor, **kwargs)


def test_frames_are_trimmed_and_equal_the_encoder_output(make_synth, tiny_encoder):
    out = make_synth(TEXTS)
    record = features(out, tiny_encoder)
    assert record["complete"] and record["clips"] == 6 and record["dim"] == 16
    store, audio = FeatureStore(out), AudioStore(out)
    assert store.path == out / "features-tiny-random"
    for rid in audio.ids():
        wave, _, _ = audio[rid]
        frames = store[rid]
        assert frames.dtype == np.float16
        assert frames.shape == (encoder_frames(wave.size), 16) == (store.num_frames(rid), 16)
        np.testing.assert_allclose(frames.astype(np.float32),
                                   reference_frames(wave, *tiny_encoder).astype(np.float32), atol=2e-3)
    assert store["c0"].shape == (15, 16)  # 0.3 s = 4800 samples = 15 frames of 320


def test_frames_below_the_top_layers_have_their_own_folder_and_complete_to_the_encoder_output(make_synth, tiny_encoder):
    from voxlm.model.modeling_voxlm import run_encoder_top

    out = make_synth(TEXTS)
    features(out, tiny_encoder)
    record = features(out, tiny_encoder, skip_top=1)
    assert record["below_top_layers"] == 1 and record["clips"] == 6
    below = FeatureStore(out, "tiny-random", skip_top=1)
    assert below.path == features_dir(out, "tiny-random", 1) == out / "features-tiny-random-below-top1"
    output = FeatureStore(out, "tiny-random")
    encoder = tiny_encoder[0]
    with torch.no_grad():  # the model's trainable top layer turns the cached frames into the encoder's output
        top = run_encoder_top(encoder, torch.from_numpy(below["c4"]).float()[None], torch.tensor([len(below["c4"])]), 1)
    np.testing.assert_allclose(top[0].numpy(), output["c4"].astype(np.float32), atol=3e-3)
    with pytest.raises(FileNotFoundError, match="--encoder-trainable-layers 2"):
        FeatureStore(out, "tiny-random", skip_top=2)
    with pytest.raises(ValueError, match="has 2 layers"):
        features(out, tiny_encoder, skip_top=3)


def test_clip_over_30_s_is_encoded_window_by_window(make_synth, tiny_encoder):
    out = make_synth(["LONG clip", "short one"])  # 65 s: windows of 30 + 30 + 5 s
    features(out, tiny_encoder)
    wave = AudioStore(out)["c0"][0]
    frames = FeatureStore(out)["c0"]
    assert frames.shape == (1500 + 1500 + 250, 16)
    windows = split_windows(frames)
    assert [len(w) for w in windows] == [1500, 1500, 250]
    for i, window in enumerate(windows):
        expected = reference_frames(wave[i * 30 * SR : (i + 1) * 30 * SR], *tiny_encoder)
        np.testing.assert_allclose(window.astype(np.float32), expected.astype(np.float32), atol=2e-3)


def test_batch_size_does_not_change_the_frames(tiny_encoder):
    rng = np.random.default_rng(0)
    waves = [(0.1 * rng.standard_normal(n)).astype(np.float32) for n in (8000, 16000, 3000, 40 * SR)]
    one = encode_clips(waves, *tiny_encoder, batch_size=1)
    many = encode_clips(waves, *tiny_encoder, batch_size=3)
    assert [f.shape[0] for f in one] == [25, 50, 10, 2000]
    for a, b in zip(one, many):
        np.testing.assert_allclose(a.astype(np.float32), b.astype(np.float32), atol=2e-3)


def test_feature_shards_mirror_audio_shards(make_synth, tiny_encoder):
    out = make_synth(TEXTS)  # shards of 3: c0-c2, c3-c5
    features(out, tiny_encoder)
    root = features_dir(out, "tiny-random")
    assert sorted(p.name for p in root.iterdir()) == ["features.json", "shard-00000", "shard-00001"]
    for k in (0, 1):
        audio_ids = json.loads((out / f"shard-0000{k}" / "shard.json").read_text())["ids"]
        assert json.loads((root / f"shard-0000{k}" / "shard.json").read_text())["ids"] == audio_ids


def test_rerun_reuses_and_corrupt_feature_shard_is_rebuilt(make_synth, tiny_encoder):
    out = make_synth(TEXTS)
    features(out, tiny_encoder)
    before = FeatureStore(out)["c4"]
    again = features(out, tiny_encoder)
    assert again["last_run"]["shards_reused"] == [0, 1] and again["last_run"]["clips_encoded"] == 0
    arrow = next((features_dir(out, "tiny-random") / "shard-00001").glob("*.arrow"))
    arrow.write_bytes(arrow.read_bytes()[:100])
    messages = []
    fixed = features(out, tiny_encoder, log=messages.append)
    assert [r["shard"] for r in fixed["last_run"]["shards_rebuilt"]] == [1]
    assert any("corrupt" in m for m in messages)
    np.testing.assert_array_equal(FeatureStore(out)["c4"], before)


def test_new_audio_or_new_encoder_makes_features_stale(make_synth, tiny_encoder, tmp_path):
    out = make_synth(TEXTS)
    features(out, tiny_encoder)
    # The requests of shard 1 change: synth rebuilds that audio shard, features follow.
    make_synth(TEXTS[:4] + ["different text here", "six"])
    store = FeatureStore(out)  # before `voxlm features` reruns: the old frames of shard 1 are not served
    assert store.stale_shards == [1] and "c1" in store and "c4" not in store
    with pytest.raises(KeyError, match="stale"):
        store["c4"]
    record = features(out, tiny_encoder)
    assert record["last_run"]["shards_rebuilt"] == [{"shard": 1, "why": "stale"}]
    assert FeatureStore(out)["c4"].shape == (encoder_frames(3 * int(0.3 * SR)), 16)
    other = WhisperEncoder(tiny_encoder[0].config).eval()  # new random weights, same folder name
    record = features(out, (other, tiny_encoder[1]))
    assert len(record["last_run"]["shards_rebuilt"]) == 2


def test_features_wait_for_missing_audio_shards(make_synth, tiny_encoder):
    out = make_synth(TEXTS)
    shutil.rmtree(out / "shard-00001")
    record = features(out, tiny_encoder)
    assert record["last_run"]["shards_waiting_for_audio"] == [{"shard": 1, "audio": "missing"}]
    assert not record["complete"] and record["missing_shards"] == [1]
    store = FeatureStore(out)
    assert store.missing_shards == [1] and "c0" in store and "c4" not in store


def test_machines_split_feature_shards(make_synth, tiny_encoder):
    out = make_synth(TEXTS + ["seven", "eight"], shard_size=2)  # 4 shards
    first = features(out, tiny_encoder, worker_index=1, num_machines=2)
    assert first["last_run"]["shards_built"] == [1, 3] and not first["complete"]
    second = features(out, tiny_encoder, worker_index=0, num_machines=2)
    assert second["last_run"]["shards_built"] == [0, 2] and second["complete"] and second["clips"] == 8


def test_store_api_and_missing_ids(make_synth, tiny_encoder):
    out = make_synth(TEXTS)
    with pytest.raises(FileNotFoundError, match="voxlm features"):
        FeatureStore(out)
    features(out, tiny_encoder)
    store = FeatureStore(out / "features-tiny-random")
    assert len(store) == 6 and sorted(store.ids()) == [f"c{i}" for i in range(6)]
    assert "c3" in store and "nope" not in store
    with pytest.raises(KeyError, match=r"voxlm features .* --audio-model tiny-random"):
        store["nope"]
    clone = pickle.loads(pickle.dumps(store))  # DataLoader workers get a copy that reopens the shards
    np.testing.assert_array_equal(clone["c5"], store["c5"])
    frames = store["c5"]
    frames[0, 0] = 123.0  # a private copy: writable, and the store is unchanged
    assert store["c5"][0, 0] != 123.0


def test_audio_store_returns_wave_text_voice(make_synth):
    out = make_synth(TEXTS)
    store = AudioStore(out)
    wave, text, voice = store["c2"]
    assert text == "now three words" and voice in ("flite:slt", "espeak:en-us")
    np.testing.assert_array_equal(wave, fake_speak(text, voice))
    assert store.record("c2")["source_text"] == "now three words"
    with pytest.raises(KeyError, match="voxlm synth"):
        store["missing"]


def test_cli_arguments(make_synth, tiny_encoder, monkeypatch, capsys):
    import voxlm.data.features as feats

    out = make_synth(TEXTS)
    monkeypatch.setattr(feats, "load_encoder", lambda audio_model, device=None: tiny_encoder)
    args = add_features_arguments(argparse.ArgumentParser()).parse_args(
        [str(out), "--audio-model", "whisper-tiny.en", "--batch-size", "2", "--quiet"])
    assert run_features(args) == 0
    assert "6 clips cached in 2/2 shards" in capsys.readouterr().out
    assert len(FeatureStore(out, audio_model="whisper-tiny.en")) == 6


@pytest.mark.integration
def test_real_tiny_en_features_match_the_model_encoder(tmp_path):
    """Real espeak speech through the real tiny.en encoder: cached frames == VoxLM's own encoder path."""
    from voxlm.assets import AssetMissingError, ensure_asset
    from voxlm.data.features import load_encoder
    from voxlm.model.modeling_voxlm import load_whisper_encoder

    if shutil.which("espeak-ng") is None:
        pytest.skip("needs Debian espeak-ng")
    try:
        path = ensure_asset("whisper-tiny.en")
    except AssetMissingError as error:
        pytest.skip(str(error))
    requests = tmp_path / "r.jsonl"
    requests.write_text('{"id": "a", "text": "The quick brown fox jumps over the lazy dog."}\n'
                        '{"id": "b", "text": "Turn left at the lights."}\n')
    synth.synthesize(requests, tmp_path / "s", voices="espeak:en-us", progress=False)
    record = compute_features(tmp_path / "s", "whisper-tiny.en", device="cpu", progress=False)
    assert record["dim"] == 384 and record["clips"] == 2
    store = FeatureStore(tmp_path / "s")
    encoder = load_whisper_encoder(path).eval()
    extractor = load_encoder("whisper-tiny.en", "cpu")[1]
    for rid in ("a", "b"):
        wave = AudioStore(tmp_path / "s")[rid][0]
        np.testing.assert_allclose(store[rid].astype(np.float32),
                                   reference_frames(wave, encoder, extractor).astype(np.float32), atol=1e-2, rtol=1e-2)
    # For a model that trains the top layer: the frames below it, through that layer, are the cached output again.
    from voxlm.model.modeling_voxlm import run_encoder_top

    compute_features(tmp_path / "s", "whisper-tiny.en", device="cpu", progress=False, skip_top=1)
    below = FeatureStore(tmp_path / "s", "whisper-tiny.en", skip_top=1)
    frames = [torch.from_numpy(below[rid]).float() for rid in ("a", "b")]
    lengths = torch.tensor([len(f) for f in frames])
    with torch.no_grad():  # batched: the shorter clip never attends to its padding
        top = run_encoder_top(encoder, torch.nn.utils.rnn.pad_sequence(frames, batch_first=True), lengths, 1)
    for row, rid in enumerate(("a", "b")):
        np.testing.assert_allclose(top[row, : lengths[row]].numpy(), store[rid].astype(np.float32), atol=2e-2, rtol=2e-2)


def _spoken_example(eid: str, clip: str) -> str:
    return json.dumps({"id": eid, "response": "ok", "messages": [
        {"role": "user", "content": [{"type": "audio", "audio": clip, "text": "words"}]}]}) + "\n"


def test_examples_are_checked_against_the_speech_before_training(make_synth, tiny_encoder, tmp_path, capsys):
    from voxlm.data.train_data import build_datasets

    out = make_synth(TEXTS + [":-)"])  # c6 has nothing to say: synth skips it and lists it in its manifest
    features(out, tiny_encoder)
    train = tmp_path / "train.jsonl"
    train.write_text(_spoken_example("a", "c1") + _spoken_example("b", "c6") + _spoken_example("c", "c2"))
    train_set, _ = build_datasets([str(train)], [], [str(out)], None, "tiny-random")
    assert [e.id for e in train_set.examples] == ["a", "c"]
    assert "left out 1 example(s) whose clips `voxlm synth` skipped (unspeakable" in capsys.readouterr().out

    train.write_text(_spoken_example("a", "c1") + _spoken_example("d", "never-made"))
    with pytest.raises(KeyError, match=r"1 clip\(s\) .* 'never-made'.*voxlm features"):
        build_datasets([str(train)], [], [str(out)], None, "tiny-random")
