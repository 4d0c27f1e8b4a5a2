"""The trainer on a tiny random VoxLM: loss goes down, resume is exact, bad configs are refused clearly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from voxlm.data.collate import VoxLMCollator
from voxlm.data.examples import Example, ExampleDataset, read_examples, write_examples
from voxlm.train.config import load_config, read_stages
from voxlm.train.trainer import Trainer


WORDS = ["hello", "world", "quick", "brown"]


@pytest.fixture
def tiny_data(tmp_path, tone):
    """Four clips (tones of different pitch, saved as wav, plus cached 'encoder frames') each answered by a word."""
    rng = np.random.default_rng(0)
    frames, examples = {}, []
    for i, word in enumerate(WORDS):
        sf.write(tmp_path / f"clip{i}.wav", tone(0.4 + 0.2 * i) * (0.2 + 0.2 * i), 16_000)
        frames[f"clip{i}.wav"] = rng.standard_normal((20 + 10 * i, 16)).astype(np.float32)
        examples.append(Example(id=str(i), messages=[{"role": "user", "content": [
            {"type": "audio", "audio": f"clip{i}.wav", "text": word}, {"type": "text", "text": "say it"}]}],
            response=word))
    write_examples(tmp_path / "train.jsonl", examples)
    return tmp_path / "train.jsonl", frames


def make_trainer(make_tiny, data, out, waves=False, **overrides):
    """A Trainer on the tiny model; audio as cached frames (fast) or, with `waves`, encoded each step."""
    data_file, frames = data
    model, processor = make_tiny()
    settings = dict(output_dir=str(out), batch_size=2, max_steps=6, learning_rate=1e-2, warmup_steps=1,
                    eval_every=3, save_every=3, log_every=1, train_data=[str(data_file)], eval_data=[str(data_file)])
    settings.update(overrides)
    config = load_config(None, [f"{k}={json.dumps(v)}" for k, v in settings.items()])
    lookup = {"wave": lambda ref: str(data_file.parent / ref)} if waves else {"frames": frames}
    dataset = ExampleDataset(read_examples(data_file), processor, teacher=config.kl_weight > 0,
                             ctc_blank_id=model.blank_token_id if config.ctc_weight else None, **lookup)
    collate = VoxLMCollator(pad_token_id=processor.tokenizer.pad_token_id)
    return Trainer(config, model, processor, dataset, dataset, collate, log=lambda *_: None)


def connector_weights(trainer):
    return {k: v.clone() for k, v in trainer.accelerator.unwrap_model(trainer.model).trainable_state_dict().items()}


def eval_losses(out):
    return [r["eval_loss"] for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()) if "eval_loss" in r]


def test_training_lowers_the_loss(make_tiny, tiny_data, tmp_path):
    trainer = make_trainer(make_tiny, tiny_data, tmp_path / "run", batch_size=4, max_steps=40, eval_every=40)
    final = trainer.fit()
    losses = eval_losses(tmp_path / "run")
    assert losses[-1] < 0.5 * losses[0]
    assert (final / "model.safetensors").is_file() and (final / "config.json").is_file()


def test_training_from_raw_audio_runs_the_encoder(make_tiny, tiny_data, tmp_path):
    trainer = make_trainer(make_tiny, tiny_data, tmp_path / "run", waves=True, max_steps=2, eval_every=2)
    batch = next(trainer._batches())
    assert batch["input_features"].shape[1] == 80 and "audio_frames" not in batch
    trainer.fit()
    assert all(np.isfinite(eval_losses(tmp_path / "run")))


def test_resume_after_a_stop_equals_an_uninterrupted_run(make_tiny, tiny_data, tmp_path):
    straight = make_trainer(make_tiny, tiny_data, tmp_path / "straight")
    straight.fit()

    first = make_trainer(make_tiny, tiny_data, tmp_path / "resumed", max_steps=6)
    first.position.step = 0
    original = first.train_step
    calls = []

    def stop_after_three(batches):  # behaves like SIGTERM arriving during step 3
        metrics = original(batches)
        calls.append(1)
        if len(calls) == 3:
            first.stop_requested = True
        return metrics

    first.train_step = stop_after_three
    first.fit()
    assert first.position.step == 3
    second = make_trainer(make_tiny, tiny_data, tmp_path / "resumed")
    second.fit(resume=True)
    assert second.position.step == 6
    a, b = connector_weights(straight), connector_weights(second)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_resume_with_other_settings_is_refused(make_tiny, tiny_data, tmp_path):
    make_trainer(make_tiny, tiny_data, tmp_path / "run", max_steps=3).fit()
    other = make_trainer(make_tiny, tiny_data, tmp_path / "run", batch_size=1)
    with pytest.raises(ValueError, match="batch_size"):
        other.fit(resume=True)


def test_checkpoints_are_complete_or_absent(make_tiny, tiny_data, tmp_path):
    trainer = make_trainer(make_tiny, tiny_data, tmp_path / "run", keep_checkpoints=1)
    trainer.fit()
    names = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert names == ["step-0000006"]


def test_distillation_loss_trains_toward_the_teacher(make_tiny, tiny_data, tmp_path):
    trainer = make_trainer(make_tiny, tiny_data, tmp_path / "run", kl_weight=1.0, max_steps=2)
    batches = trainer._batches()
    metrics = trainer.train_step(batches)
    assert metrics["kl"] >= 0 and np.isfinite(metrics["kl"])


def test_ctc_weight_keeps_teaching_the_connector_to_spell_each_clip_in_an_lm_stage(make_tiny, tiny_data, tmp_path):
    """`ctc_weight`: beside the LM loss, each clip's alignment CTC against its own transcript, which goes down."""
    trainer = make_trainer(make_tiny, tiny_data, tmp_path / "run", ctc_weight=1.0, ctc_negatives=8, batch_size=4,
                           max_steps=30, eval_every=30)
    tokenizer = trainer.processor.tokenizer
    batch = next(trainer._batches())
    spelled = [tokenizer.decode(row[row != -100]).strip() for row in batch["ctc_labels"]]
    assert sorted(spelled) == sorted(WORDS) and batch["ctc_scored"].all()
    batches = trainer._batches()
    losses = [trainer.train_step(batches)["ctc"] for _ in range(30)]
    assert all(np.isfinite(losses)) and np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])


def test_windows_of_a_clip_longer_than_30_s_carry_no_ctc_targets(make_tiny, tiny_data, tmp_path):
    (data_file, frames), (model, processor) = tiny_data, make_tiny()
    frames = {**frames, "clip0.wav": np.zeros((2000, 16), dtype=np.float32)}  # two 1,500-frame windows
    dataset = ExampleDataset(read_examples(data_file), processor, frames=frames, ctc_blank_id=model.blank_token_id)
    batch = VoxLMCollator(pad_token_id=processor.tokenizer.pad_token_id)([dataset[0], dataset[1]])
    assert batch["ctc_scored"].tolist() == [False, False, True]
    assert batch["ctc_labels"].shape[0] == len(batch["audio_lengths"]) == 3
    assert (batch["ctc_labels"][:2] == -100).all()


def test_ctc_weight_belongs_to_the_lm_objective():
    with pytest.raises(ValueError, match="ctc_weight"):
        load_config(None, ["objective=ctc", "ctc_weight=0.5"])
    assert load_config(None, ["ctc_weight=0.5", "ctc_negatives=64"]).ctc_negatives == 64


def test_unknown_recipe_keys_list_the_valid_ones(tmp_path):
    with pytest.raises(ValueError, match="valid keys: .*learning_rate"):
        load_config(None, ["learing_rate=0.1"])
    with pytest.raises(ValueError, match="unknown model keys \\['stack'\\]"):
        load_config(None, ["model.stack=4"])


def test_recipes_compose_over_their_defaults(tmp_path):
    (tmp_path / "base.yaml").write_text("learning_rate: 0.01\nmax_steps: 10\nmodel:\n  stack_factor: 8\n")
    (tmp_path / "child.yaml").write_text("defaults: [base.yaml]\nmax_steps: 20\nmodel:\n  lora_rank: 4\n")
    config = load_config(tmp_path / "child.yaml", ["max_steps=30"])
    assert (config.learning_rate, config.max_steps) == (0.01, 30)
    assert config.model == {"stack_factor": 8, "lora_rank": 4}


def test_malformed_example_lines_name_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "1", "messages": [{"role": "user", "content": "hi"}], "response": "yo"}\n{not json\n')
    with pytest.raises(ValueError, match="bad.jsonl:2: not valid JSON"):
        read_examples(path)
    path.write_text('{"id": "1", "messages": [{"role": "user", "content": "hi"}]}\n')
    with pytest.raises(ValueError, match="bad.jsonl:1: missing field\\(s\\) \\['response'\\]"):
        read_examples(path)


def test_chained_recipes_read_each_stage_over_its_defaults(tmp_path):
    (tmp_path / "base.yaml").write_text("learning_rate: 0.01\n")
    (tmp_path / "a.yaml").write_text("defaults: [base.yaml]\nrecipe: a\nmax_steps: 5\n")
    (tmp_path / "chain.yaml").write_text("stages:\n  - a.yaml\n  - {defaults: [a.yaml], recipe: b, kl_weight: 1.0}\n")
    stages = read_stages(tmp_path / "chain.yaml")
    configs = [load_config(stage, ["max_steps=7"]) for stage in stages]
    assert [(c.recipe, c.max_steps, c.learning_rate, c.kl_weight) for c in configs] == [("a", 7, 0.01, 0.0), ("b", 7, 0.01, 1.0)]
    assert read_stages(tmp_path / "a.yaml") is None


def test_a_chain_stops_at_a_stage_that_was_stopped(tmp_path, monkeypatch):
    import argparse

    from voxlm.train import run as run_module

    (tmp_path / "chain.yaml").write_text(f"stages:\n  - {{recipe: a, output_dir: {tmp_path / 'a'}}}\n"
                                         f"  - {{recipe: b, output_dir: {tmp_path / 'b'}}}\n")
    started = []

    def stopped_early(config, resume=False):  # as after SIGTERM: checkpoints, but no final weights
        started.append(config.recipe)
        return tmp_path / config.recipe / "final"

    monkeypatch.setattr(run_module, "train", stopped_early)
    code = run_module.run_train(argparse.Namespace(recipe=str(tmp_path / "chain.yaml"), overrides=[], resume=False))
    assert code == 1 and started == ["a"]


def test_every_shipped_recipe_loads_and_chains_write_to_distinct_folders():
    recipes = Path(__file__).resolve().parents[1] / "recipes"
    for path in sorted(recipes.glob("*.yaml")):
        if path.name == "base.yaml":  # shared defaults, not run on its own
            continue
        stages = read_stages(path)
        configs = [load_config(s) for s in stages] if stages else [load_config(path)]
        assert all(c.train_data for c in configs), path.name
        outputs = [c.output_dir for c in configs]
        assert len(set(outputs)) == len(outputs), f"{path.name}: two stages share an output folder"


def test_a_stage_may_change_the_interface_of_its_init_checkpoint(make_tiny, tmp_path, monkeypatch):
    from voxlm.model import VoxLMProcessor
    from voxlm.train import trainer as trainer_module

    model, processor = make_tiny()
    model.save_pretrained(tmp_path / "ckpt")
    monkeypatch.setattr(VoxLMProcessor, "from_config", classmethod(lambda cls, config: processor))
    config = load_config(None, [f"init_from={json.dumps(str(tmp_path / 'ckpt'))}",
                                'model={"interface": "soft_tokens", "blank_threshold": 0.2}'])
    torch.manual_seed(0)
    loaded, _ = trainer_module.build_model(config)
    assert (loaded.config.interface, loaded.config.blank_threshold) == ("soft_tokens", 0.2)
    torch.testing.assert_close(loaded.trainable_state_dict(), model.trainable_state_dict())
    config = load_config(None, [f"init_from={json.dumps(str(tmp_path / 'ckpt'))}", 'model={"stack_factor": 8}'])
    with pytest.raises(ValueError, match="differ from the init_from checkpoint"):
        trainer_module.build_model(config)
