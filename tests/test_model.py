"""VoxLM model + processor on tiny random configs: shapes, splicing, masking, checkpoints, generation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from voxlm.audio.io import AudioError
from voxlm.model import VoxLMModel, num_audio_tokens
from voxlm.model.modeling_voxlm import run_encoder
from voxlm.model.processing_voxlm import encoder_frames


def count_audio(batch, processor) -> list[int]:
    return (batch["input_ids"] == processor.audio_token_id).sum(dim=1).tolist()


def test_token_count_arithmetic():
    # 1 s = 16000 samples = 50 encoder frames -> ceil(50 / 4) = 13 positions at stack factor 4
    assert encoder_frames(16_000) == 50
    assert num_audio_tokens(50, 4) == 13
    assert num_audio_tokens(48, 4) == 12
    assert encoder_frames(16_000 * 40) == 1500  # one window holds at most 30 s


def test_placeholder_expands_to_audio_length(make_tiny, tone):
    _, processor = make_tiny()
    batch = processor("listen: <|audio|> done", [tone(2.5)], sampling_rate=16_000)
    # 2.5 s -> 125 frames -> ceil(125 / 4) = 32 positions
    assert count_audio(batch, processor) == [32]
    assert batch["input_features"].shape == (1, 80, 2 * 125 + 2)  # real length, one frame of silence after
    assert batch["audio_lengths"].tolist() == [125]


def test_audio_longer_than_a_window_spans_several_windows(make_tiny, tone):
    _, processor = make_tiny()
    batch = processor("<|audio|>", [tone(45.0)], sampling_rate=16_000)
    # 30 s window: 1500 frames -> 375 positions; 15 s rest: 750 frames -> 188 positions
    assert batch["audio_lengths"].tolist() == [1500, 750]
    assert count_audio(batch, processor) == [375 + 188]


def test_audio_over_the_limit_is_a_clear_error(make_tiny, tone):
    _, processor = make_tiny(max_audio_seconds=10)
    with pytest.raises(AudioError, match="limit is 10 s"):
        processor("<|audio|>", [tone(11.0)], sampling_rate=16_000)


def test_placeholder_and_clip_counts_must_agree(make_tiny, tone):
    _, processor = make_tiny()
    with pytest.raises(ValueError, match="2 '<\\|audio\\|>' placeholders but 1 audio clips"):
        processor("<|audio|> and <|audio|>", [tone(1.0)], sampling_rate=16_000)


def test_audio_of_any_rate_and_layout_is_resampled(make_tiny, tone):
    _, processor = make_tiny()
    stereo_8k = np.stack([tone(1.0, sr=8000)] * 2, axis=1)  # [samples, 2]
    int16_48k = (tone(1.0, sr=48_000) * 32767).astype(np.int16)
    batch = processor("<|audio|>", [stereo_8k], sampling_rate=8000)
    batch48 = processor("<|audio|>", [int16_48k], sampling_rate=48_000)
    assert batch["audio_lengths"].tolist() == batch48["audio_lengths"].tolist() == [50]


def test_several_audio_spans_are_spliced_in_order(make_tiny, tone):
    model, processor = make_tiny()
    clips = [tone(1.0), tone(0.5) * 0.1, tone(2.0) * 0.5]
    batch = processor(["a <|audio|> b <|audio|>", "c <|audio|>"], clips, sampling_rate=16_000)
    assert count_audio(batch, processor) == [13 + 7, 25]
    with torch.no_grad():
        embeds, _ = model.embed_inputs(batch["input_ids"], batch["input_features"], audio_lengths=batch["audio_lengths"])
        audio = model.encode_audio(batch["audio_lengths"], batch["input_features"])
    positions = batch["input_ids"] == processor.audio_token_id
    assert audio.shape == (45, 32)
    # Row-major order: sample 0's two spans, then sample 1's.
    torch.testing.assert_close(embeds[positions], audio)


def test_cached_frames_give_the_same_embeddings_as_features(make_tiny, tone):
    model, processor = make_tiny()
    batch = processor("<|audio|>", [tone(1.0)], sampling_rate=16_000)
    with torch.no_grad():
        frames = run_encoder(model.audio_tower, batch["input_features"], batch["audio_lengths"])
        from_features, _ = model.embed_inputs(batch["input_ids"], batch["input_features"], audio_lengths=batch["audio_lengths"])
        from_cache, _ = model.embed_inputs(batch["input_ids"], audio_frames=frames, audio_lengths=batch["audio_lengths"])
    torch.testing.assert_close(from_features, from_cache)


def test_each_window_is_encoded_at_its_own_length_whatever_its_batch(make_tiny, tone):
    model, processor = make_tiny()
    clips = [tone(0.4), tone(2.2) * 0.3]
    with torch.no_grad():
        together = model.encode_audio(**{k: v for k, v in processor(["<|audio|>"] * 2, clips, sampling_rate=16_000).items()
                                         if k in ("input_features", "audio_lengths")})
        alone = [model.encode_audio(**{k: v for k, v in processor("<|audio|>", [c], sampling_rate=16_000).items()
                                       if k in ("input_features", "audio_lengths")}) for c in clips]
    torch.testing.assert_close(together, torch.cat(alone))


def test_labels_cover_only_the_target_text(make_tiny, tone):
    _, processor = make_tiny()
    batch = processor("say <|audio|>", [tone(1.0)], sampling_rate=16_000, text_target="hello world")
    target = processor.tokenizer("hello world", add_special_tokens=False).input_ids + [processor.tokenizer.eos_token_id]
    labels, ids = batch["labels"][0], batch["input_ids"][0]
    assert labels[-len(target):].tolist() == target
    assert (labels[: -len(target)] == -100).all()
    assert ids[-len(target):].tolist() == target


def test_loss_is_cross_entropy_on_target_positions_only(make_tiny, tone):
    model, processor = make_tiny()
    batch = processor("say <|audio|>", [tone(1.0)], sampling_rate=16_000, text_target="hello world")
    # Labels that (wrongly) mark audio positions must still not train on them.
    labels = batch["labels"].clone()
    audio = batch["input_ids"] == processor.audio_token_id
    labels[audio] = 5
    with torch.no_grad():
        out = model(**{**batch, "labels": labels})
    logits, expected = out.logits[0, :-1], batch["labels"][0, 1:]
    keep = expected != -100
    manual = F.cross_entropy(logits[keep], expected[keep])
    torch.testing.assert_close(out.loss, manual)


def _as_if_trained(blocks) -> None:
    """Connector blocks start as the identity; give their residual outputs weights, as training would."""
    with torch.no_grad():
        for block in blocks:
            for layer in (block.self_attn.out_proj, block.linear2):
                layer.weight.normal_(std=0.1)


@pytest.mark.parametrize("connector_layers", [0, 2])
def test_right_padding_does_not_change_the_shorter_sample(make_tiny, tone, connector_layers):
    model, processor = make_tiny(connector_layers=connector_layers, connector_heads=4)
    _as_if_trained(model.connector.blocks)
    short = processor("hi <|audio|>", [tone(1.0)], sampling_rate=16_000)
    both = processor(["hi <|audio|>", "a much longer text <|audio|> with more words after it"],
                     [tone(1.0), tone(2.0)], sampling_rate=16_000)
    n = short["input_ids"].shape[1]
    assert both["attention_mask"][0, n:].sum() == 0 and both["attention_mask"][0, :n].all()
    with torch.no_grad():
        alone = model(**short).logits[0]
        batched = model(**both).logits[0, :n]
    torch.testing.assert_close(alone, batched, atol=1e-5, rtol=1e-5)


def test_connector_blocks_attend_across_positions_but_never_to_a_clips_padding(make_tiny, tone):
    plain, _ = make_tiny()
    model, processor = make_tiny(connector_layers=1, connector_heads=4)
    _as_if_trained(model.connector.blocks)
    assert not any(".blocks." in name for name in plain.state_dict())  # 0 layers: the checkpoint keys of before
    assert sum(p.numel() for p in model.connector.blocks.parameters()) > 0
    batch = processor(["<|audio|>", "<|audio|>"], [tone(0.6), tone(1.5)], sampling_rate=16_000)
    alone = processor("<|audio|>", [tone(0.6)], sampling_rate=16_000)
    with torch.no_grad():
        short_alone = model.encode_audio(alone["audio_lengths"], alone["input_features"])
        both = model.encode_audio(batch["audio_lengths"], batch["input_features"])
        # A later frame changes an earlier position: the blocks mix positions (the SwiGLU alone cannot).
        frames = torch.randn(1, 40, 16)
        changed = frames.clone()
        changed[0, -1] += 1.0
        mixed = model.connector(frames) - model.connector(changed)
    assert mixed[0, 0].abs().max() > 0
    torch.testing.assert_close(both[: short_alone.shape[0]], short_alone, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="must divide the LLM width"):
        make_tiny(connector_layers=1, connector_heads=5)


def test_connector_blocks_grown_over_a_checkpoint_start_as_the_identity(make_tiny, tone, tmp_path):
    model, processor = make_tiny()
    model.save_pretrained(tmp_path / "plain")
    torch.manual_seed(0)  # the tiny base models are random: rebuild the same ones
    grown = VoxLMModel.from_pretrained(tmp_path / "plain", connector_layers=2, connector_heads=4).eval()
    grown.bind_tokenizer(processor.tokenizer)
    assert len(grown.connector.blocks) == 2 and all(p.requires_grad for p in grown.connector.blocks.parameters())
    batch = processor("<|audio|> hi", [tone(1.0)], sampling_rate=16_000)
    with torch.no_grad():
        torch.testing.assert_close(grown(**batch).logits, model(**batch).logits, atol=1e-5, rtol=1e-5)
    _as_if_trained(grown.connector.blocks)
    grown.save_pretrained(tmp_path / "grown")
    restored = VoxLMModel.from_pretrained(tmp_path / "grown")
    torch.testing.assert_close(restored.connector.blocks[1].linear2.weight, grown.connector.blocks[1].linear2.weight)
    with pytest.raises(ValueError, match="does not match"):  # blocks are added only when asked for, never dropped
        VoxLMModel.from_pretrained(tmp_path / "grown", connector_layers=1)
    (tmp_path / "grown" / "model.safetensors").replace(tmp_path / "plain-weights")
    (tmp_path / "plain" / "model.safetensors").replace(tmp_path / "grown" / "model.safetensors")
    with pytest.raises(ValueError, match="does not match"):  # a checkpoint whose config has blocks its weights lack
        VoxLMModel.from_pretrained(tmp_path / "grown")


def test_encoder_top_layers_train_with_the_connector_and_start_as_the_frozen_encoder(make_tiny, tone):
    frozen, processor = make_tiny()
    model, _ = make_tiny(encoder_trainable_layers=1)  # same seed: the same weights, one encoder layer unfrozen
    trainable = {name for name, p in model.named_parameters() if p.requires_grad and name.startswith("audio_tower.")}
    assert trainable and all(n.startswith(("audio_tower.layers.1.", "audio_tower.layer_norm.")) for n in trainable)
    batch = processor(["<|audio|>", "<|audio|>"], [tone(0.6), tone(1.5)], sampling_rate=16_000)
    alone = processor("<|audio|>", [tone(0.6)], sampling_rate=16_000)
    with torch.no_grad():
        expected = frozen.encode_audio(batch["audio_lengths"], batch["input_features"])
        both = model.encode_audio(batch["audio_lengths"], batch["input_features"])
        short_alone = model.encode_audio(alone["audio_lengths"], alone["input_features"])
        # What `voxlm features --encoder-trainable-layers 1` caches: the frames below the top layer.
        below = run_encoder(model.audio_tower, batch["input_features"], batch["audio_lengths"], skip_top=1)
        cached = model.encode_audio(batch["audio_lengths"], audio_frames=below)
    torch.testing.assert_close(both, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(cached, expected, atol=1e-5, rtol=1e-5)
    # Batched, a clip never attends to its padding: the short clip's positions are those it gets alone.
    torch.testing.assert_close(both[: short_alone.shape[0]], short_alone, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="the encoder has 2 layers"):
        make_tiny(encoder_trainable_layers=3)


def test_a_checkpoint_that_kept_the_encoder_frozen_loads_into_one_that_trains_its_top(make_tiny, tone, tmp_path):
    model, processor = make_tiny()
    model.save_pretrained(tmp_path / "frozen")
    torch.manual_seed(0)
    grown = VoxLMModel.from_pretrained(tmp_path / "frozen", encoder_trainable_layers=1).eval()
    grown.bind_tokenizer(processor.tokenizer)
    batch = processor("<|audio|> hi", [tone(1.0)], sampling_rate=16_000)
    with torch.no_grad():
        torch.testing.assert_close(grown(**batch).logits, model(**batch).logits, atol=1e-5, rtol=1e-5)
        grown.audio_tower.layers[1].fc2.bias.add_(0.1)  # "trained"
    grown.save_pretrained(tmp_path / "grown")
    from safetensors.torch import load_file

    assert "audio_tower.layers.1.fc2.bias" in load_file(tmp_path / "grown" / "model.safetensors")
    torch.manual_seed(0)
    restored = VoxLMModel.from_pretrained(tmp_path / "grown")
    torch.testing.assert_close(restored.audio_tower.layers[1].fc2.bias, grown.audio_tower.layers[1].fc2.bias)
    with pytest.raises(ValueError, match="does not match"):  # trained encoder weights never load into a frozen one
        VoxLMModel.from_pretrained(tmp_path / "grown", encoder_trainable_layers=0)


def test_only_the_connector_trains_by_default(make_tiny):
    model, _ = make_tiny()
    trainable = {name.split(".")[0] for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"connector"}


def test_lora_adds_trainable_adapters_to_the_llm(make_tiny):
    model, _ = make_tiny(lora_rank=4)
    names = [name for name, p in model.named_parameters() if p.requires_grad]
    assert any("lora_A" in n for n in names) and any(n.startswith("connector.") for n in names)
    assert not any(n.startswith("audio_tower.") for n in names)


@pytest.mark.parametrize("lora_rank, connector_layers", [(0, 0), (4, 0), (0, 1)])
def test_checkpoint_round_trip_restores_the_same_model(make_tiny, tone, tmp_path, lora_rank, connector_layers):
    model, processor = make_tiny(lora_rank=lora_rank, connector_layers=connector_layers, connector_heads=4)
    with torch.no_grad():  # make the trained weights differ from a fresh init
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.01 * torch.randn_like(p))
    model.language_model.generation_config.repetition_penalty = 1.3
    model.save_pretrained(tmp_path)
    saved = {f.name for f in tmp_path.iterdir()}
    assert saved == {"config.json", "generation_config.json", "model.safetensors"}

    torch.manual_seed(0)  # same seed -> same random base models as make_tiny built
    restored = VoxLMModel.from_pretrained(tmp_path).eval()
    assert restored.language_model.generation_config.repetition_penalty == 1.3
    restored.bind_tokenizer(processor.tokenizer)
    batch = processor("<|audio|> hi", [tone(1.0)], sampling_rate=16_000)
    with torch.no_grad():
        torch.testing.assert_close(model(**batch).logits, restored(**batch).logits)
    from safetensors.torch import load_file

    stored = load_file(tmp_path / "model.safetensors")
    assert not any(k.startswith(("audio_tower.", "language_model.model.embed")) for k in stored)


def test_checkpoint_of_another_config_is_refused(make_tiny, tmp_path):
    model, _ = make_tiny(lora_rank=4)
    model.save_pretrained(tmp_path)
    other, _ = make_tiny()
    from safetensors.torch import load_file

    with pytest.raises(ValueError, match="does not match"):
        other.load_trainable_state_dict(load_file(tmp_path / "model.safetensors"))


def test_generate_matches_step_by_step_greedy_decoding(make_tiny, tone):
    model, processor = make_tiny()
    batch = processor("question <|audio|> answer:", [tone(1.0)], sampling_rate=16_000)
    generated = model.generate(**batch, max_new_tokens=6, do_sample=False, eos_token_id=None)
    ids = batch["input_ids"]
    features = {"input_features": batch["input_features"], "audio_lengths": batch["audio_lengths"]}
    expected = []
    with torch.no_grad():
        for _ in range(6):  # no KV cache: recompute the full sequence each step
            next_id = model(input_ids=ids, **features).logits[0, -1].argmax()
            expected.append(int(next_id))
            ids = torch.cat([ids, next_id.view(1, 1)], dim=1)
    assert generated[0].tolist() == expected


def test_forward_without_audio_but_with_placeholders_fails_clearly(make_tiny, tone):
    model, processor = make_tiny()
    batch = processor("<|audio|>", [tone(1.0)], sampling_rate=16_000)
    with pytest.raises(ValueError, match="no audio was given"):
        model(input_ids=batch["input_ids"])
