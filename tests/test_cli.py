"""The `voxlm` command: verbs in sync with the parser, one-line errors for bad input."""

from __future__ import annotations

import numpy as np
import soundfile as sf

from voxlm.cli import VERBS, build_parser, main


def test_every_verb_is_in_the_parser():
    parser = build_parser()
    choices = next(a for a in parser._actions if a.dest == "verb").choices
    assert set(choices) == set(VERBS)


def test_chat_on_a_missing_file_is_one_clear_line(capsys, tmp_path):
    assert main(["chat", str(tmp_path / "nope.wav")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"voxlm chat: error: {tmp_path / 'nope.wav'}: no such file"


def test_chat_on_non_audio_bytes_is_one_clear_line(capsys, tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_text("this is not audio at all")
    assert main(["chat", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not" in err[0] and "notes.wav" in err[0]


def test_chat_on_an_empty_recording_is_one_clear_line(capsys, tmp_path):
    empty = tmp_path / "silence.wav"
    sf.write(empty, np.zeros(0, dtype=np.float32), 16_000)
    assert main(["chat", str(empty)]) == 2
    assert "0 s long" in capsys.readouterr().err
