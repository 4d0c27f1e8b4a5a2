"""The `voxlm serve` / `chat` / `train` command lines refuse bad settings and bad files in one clear line, before
any model is loaded (issue 16, items 7 and 9); each bad case is followed by the good one working."""

from __future__ import annotations

import argparse
import socket

import numpy as np
import pytest
import soundfile as sf

from voxlm.cli import main
from voxlm.inference import SpeechChat


@pytest.fixture
def no_model(monkeypatch):
    """Loading a model fails the test: every refusal here must come first."""

    def load(*args, **kwargs):
        raise AssertionError("the model was loaded before the bad input was refused")

    monkeypatch.setattr(SpeechChat, "load", classmethod(lambda cls, *a, **k: load()))


def serve_parser() -> argparse.ArgumentParser:
    from voxlm.serve.server import add_serve_arguments

    parser = argparse.ArgumentParser(prog="voxlm serve")
    add_serve_arguments(parser)
    return parser


@pytest.mark.parametrize("argv, message", [
    (["--max-queue", "0"], "--max-queue: must be >= 1, got 0"),
    (["--max-queue", "-3"], "--max-queue: must be >= 1, got -3"),
    (["--timeout", "0"], "--timeout: must be > 0, got 0"),
    (["--timeout", "nan"], "--timeout: must be > 0, got nan"),
    (["--max-request-mb", "-1"], "--max-request-mb: must be > 0, got -1"),
    (["--read-timeout", "0"], "--read-timeout: must be > 0"),
    (["--port", "99999"], "--port: must be 1..65535, got 99999"),
    (["--port", "0"], "--port: must be 1..65535, got 0"),
    (["--port", "http"], "--port: 'http' is not an integer"),
])
def test_serve_limits_are_checked_before_the_model_loads(capsys, no_model, argv, message):
    with pytest.raises(SystemExit) as raised:
        main(["serve", *argv])
    assert raised.value.code == 2 and message in capsys.readouterr().err
    args = serve_parser().parse_args(["--max-queue", "1", "--timeout", "0.5", "--port", "65535", "--max-request-mb", "0.5"])
    assert (args.max_queue, args.timeout, args.port, args.max_request_mb) == (1, 0.5, 65535, 0.5)


def test_serve_defaults_loopback_hosts_and_the_api_key_from_the_environment(monkeypatch):
    monkeypatch.delenv("VOXLM_API_KEY", raising=False)
    args = serve_parser().parse_args([])
    assert args.allowed_hosts == ["localhost", "127.0.0.1", "[::1]"] and args.api_key is None
    monkeypatch.setenv("VOXLM_API_KEY", "from-env")
    assert serve_parser().parse_args([]).api_key == "from-env"
    assert serve_parser().parse_args(["--api-key", "given"]).api_key == "given"


def test_a_taken_port_is_one_line_before_the_model_loads(capsys, no_model):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"cannot listen on 127.0.0.1:{port}" in err[0] and "--port" in err[0]


def test_the_banner_comes_once_the_port_is_bound(capsys, monkeypatch, make_tiny):
    import uvicorn

    from voxlm.serve import server

    model, processor = make_tiny()
    monkeypatch.setattr(SpeechChat, "load", classmethod(lambda cls, *a, **k: cls(model, processor, max_new_tokens=4)))
    seen = {}

    def run(self, sockets=None):  # instead of serving: what is true when uvicorn would start
        seen["port"] = sockets[0].getsockname()[1]
        seen["banner"] = capsys.readouterr().out
        sockets[0].close()

    monkeypatch.setattr(uvicorn.Server, "run", run)
    port = server.free_port()
    assert server.run_serve(serve_parser().parse_args(["--port", str(port)])) == 0
    assert seen["port"] == port and f"at http://127.0.0.1:{port}/" in seen["banner"]


# ---- chat ----------------------------------------------------------------------------------------


def test_chat_on_a_folder_says_so(capsys, tmp_path, no_model):
    assert main(["chat", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == f"voxlm chat: error: {tmp_path}: is a folder; give one audio file (wav, flac, ogg, mp3, ...)"


def test_chat_refuses_an_over_long_clip_before_loading_the_model(capsys, tmp_path, monkeypatch, make_tiny, tone):
    model, processor = make_tiny(max_audio_seconds=2)
    model.save_pretrained(tmp_path / "ckpt")  # its config says 2 s
    sf.write(tmp_path / "long.wav", tone(3.0), 16_000)
    sf.write(tmp_path / "short.wav", tone(1.0), 16_000)
    loads = []

    def load(cls, checkpoint, **kwargs):
        loads.append(checkpoint)
        return cls(model, processor, **kwargs)

    monkeypatch.setattr(SpeechChat, "load", classmethod(load))
    assert main(["chat", str(tmp_path / "long.wav"), "--model", str(tmp_path / "ckpt")]) == 2
    assert "audio is 3.0 s long; the limit is 2 s" in capsys.readouterr().err and loads == []
    assert main(["chat", str(tmp_path / "short.wav"), "--model", str(tmp_path / "ckpt"), "--max-new-tokens", "3"]) == 0
    assert loads == [str(tmp_path / "ckpt")]


# ---- train recipes -------------------------------------------------------------------------------


def test_a_malformed_recipe_is_one_line_naming_the_file(capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("recipe: x\nmax_steps: [1, 2\nseed: 3\n")
    assert main(["train", "--recipe", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0] and "not valid YAML at line" in err[0]


def test_a_recipe_that_is_not_utf8_is_one_line_naming_the_file(capsys, tmp_path):
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("recipe: caf\xe9\n".encode("latin-1"))
    assert main(["train", "--recipe", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0] and "not UTF-8" in err[0]


def test_recipes_and_overrides_still_load(tmp_path):
    from voxlm.train.config import load_config

    good = tmp_path / "good.yaml"
    good.write_text("recipe: fine\nmax_steps: 7\n")
    assert load_config(good, ["seed=3"]).max_steps == 7
    with pytest.raises(ValueError, match="override 'seed=\\[1,': the value is not valid YAML"):
        load_config(good, ["seed=[1,"])


def test_chat_still_answers_a_good_clip(capsys, tmp_path, monkeypatch, make_tiny, tone):
    model, processor = make_tiny()
    monkeypatch.setattr(SpeechChat, "load", classmethod(lambda cls, *a, **k: cls(model, processor, **k)))
    sf.write(tmp_path / "q.wav", np.asarray(tone(1.0)), 16_000)
    assert main(["chat", str(tmp_path / "q.wav"), "--max-new-tokens", "2"]) == 0
