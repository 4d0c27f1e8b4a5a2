"""Shipped checkpoints chosen by name (`--model NAME`, `load_voxlm(NAME)`) and listed by `voxlm models`."""

from __future__ import annotations

import json

import pytest

from voxlm.cli import main
from voxlm.model import shipped
from voxlm.model.shipped import UnknownModelError, resolve_checkpoint


@pytest.fixture
def two_models(tmp_path, monkeypatch):
    """A package whose checkpoints folder ships `default` and `qwen` (and a folder that is no checkpoint)."""
    for name, llm in [("default", "smollm2-135m-instruct"), ("qwen", "qwen2.5-coder-0.5b-instruct")]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(json.dumps({"text_model": llm, "audio_model": "whisper-tiny.en",
                                                                  "interface": "soft_tokens"}))
    (tmp_path / "notes").mkdir()
    monkeypatch.setattr(shipped, "SHIPPED_DIR", tmp_path)
    monkeypatch.setattr(shipped, "DEFAULT_CHECKPOINT", tmp_path / "default")
    return tmp_path


def test_names_and_folders_resolve_and_none_is_the_default(two_models, tmp_path_factory):
    assert shipped.shipped_models() == {"default": two_models / "default", "qwen": two_models / "qwen"}
    assert resolve_checkpoint(None) == two_models / "default"
    assert resolve_checkpoint("qwen") == two_models / "qwen"
    own = tmp_path_factory.mktemp("my-checkpoint")
    assert resolve_checkpoint(str(own)) == own


def test_an_unknown_name_is_refused_with_the_choices(two_models):
    with pytest.raises(UnknownModelError, match=r"'qwen3': give a shipped model \(default, qwen;"):
        resolve_checkpoint("qwen3")


def test_an_unknown_name_is_one_line_before_anything_loads(two_models, capsys, tmp_path):
    clip = tmp_path / "missing.wav"  # never read: the model name fails first
    assert main(["chat", str(clip), "--model", "nosuch"]) == 2
    assert "unknown model 'nosuch'" in capsys.readouterr().err


def test_voxlm_models_lists_each_shipped_model_with_its_base_models(two_models, capsys):
    assert main(["models", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["name"], r["text_model"], r["default"]) for r in rows] == [
        ("default", "smollm2-135m-instruct", True), ("qwen", "qwen2.5-coder-0.5b-instruct", False)]
    assert main(["models"]) == 0
    table = capsys.readouterr().out
    assert "default *" in table and "qwen2.5-coder-0.5b-instruct" in table


def test_the_package_ships_the_default():
    assert "default" in shipped.shipped_models()


def test_the_package_ships_a_qwen_model_that_reads_soft_tokens():
    """The second shipped model (issue 14): the same encoder, Qwen2.5-Coder-0.5B-Instruct as its frozen LLM."""
    folder = shipped.shipped_models()["qwen"]
    config = json.loads((folder / "config.json").read_text())
    assert (config["text_model"], config["audio_model"], config["interface"]) == (
        "qwen2.5-coder-0.5b-instruct", "whisper-tiny.en", "soft_tokens")
    assert (folder / "model.safetensors").is_file() and (folder / "README.md").is_file()
