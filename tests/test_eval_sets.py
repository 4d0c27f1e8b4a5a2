"""Specification of the generalize and asr item sets: splits, voices, Asterisk transcripts, G.722."""

import json
import shutil
import subprocess
from collections import Counter

import numpy as np
import pytest
import soundfile as sf

from voxlm.data.tasks import HELD_OUT_TASKS, TASKS, prompts_for
from voxlm.eval import asr, generalize
from voxlm.eval.files import BenchmarkDataError
from voxlm.tts import voice_split


def fake_speak(text, voice):
    return np.full(4000, 0.1, np.float32)


# ---- generalize ------------------------------------------------------------------------------


def test_generalize_plan_draws_each_split_from_its_own_prompts():
    records = generalize.plan_generalize_set(per_split=40, seed=0)
    assert Counter(r["condition"] for r in records) == {"train": 40, "held_out_prompt": 40, "held_out_task": 40}
    for r in records:
        assert r["prompt"] in prompts_for(r["task"], r["condition"])
        assert (r["task"] in HELD_OUT_TASKS) == (r["condition"] == "held_out_task")
        assert voice_split(r["voice"]) == "held_out"


def test_generalize_plan_gives_every_family_of_a_split_a_turn():
    records = generalize.plan_generalize_set(per_split=20, seed=0)
    assert {r["task"] for r in records if r["condition"] == "held_out_task"} == set(HELD_OUT_TASKS)
    assert records[0]["task"] == "transcribe"  # so even --limit 1 measures WER


def test_generalize_passages_are_original_and_plentiful():
    assert len(generalize.PASSAGES) >= 30 and len(set(generalize.PASSAGES)) == len(generalize.PASSAGES)


def test_generalize_build_shares_one_clip_per_passage(tmp_path):
    calls = []
    passages = [{"id": "a", "text": "One passage."}, {"id": "b", "text": "Another passage."}]
    path = generalize.build_generalize_set(tmp_path, passages, per_split=4, seed=0,
                                           speak=lambda t, v: calls.append(t) or fake_speak(t, v))
    assert sorted(calls) == ["Another passage.", "One passage."]
    items = generalize.read_generalize(path).items
    assert len(items) == 12
    for item in items:
        kinds = [p["type"] for p in item.content]
        assert kinds == (["text", "audio"] if TASKS[item.meta["task"]].before else ["audio", "text"])
        assert item.max_new_tokens == TASKS[item.meta["task"]].max_new_tokens


def test_generalize_passages_jsonl_errors_name_the_line(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": 1, "text": "ok"}\n{"id": 2}\n')
    with pytest.raises(BenchmarkDataError, match=r"p\.jsonl:2: missing field\(s\) \['text'\]"):
        generalize.passages_from_jsonl(path)


def test_generalize_reader_rejects_unknown_tasks(tmp_path):
    sf.write(str(tmp_path / "a.wav"), fake_speak("", ""), 16_000)
    (tmp_path / "g.jsonl").write_text(json.dumps({"key": 1, "audio_path": "a.wav", "passage": "x", "task": "juggle",
                                                  "prompt": "p", "condition": "train"}) + "\n")
    with pytest.raises(BenchmarkDataError, match=r":1: unknown task 'juggle'"):
        generalize.read_generalize(tmp_path / "g.jsonl")


# ---- asr -------------------------------------------------------------------------------------

TRANSCRIPTS = """; Core Asterisk Sounds in English

beep: [this is a simple beep tone]
letters/dot: dot [.]
dictate/forhelp: press * for help, or # to exit
agent-pass: Please enter your password followed by the pound key.
"""


def test_asterisk_transcripts_drop_notes_and_read_keypad_symbols():
    assert asr.parse_asterisk_transcripts(TRANSCRIPTS) == {
        "letters/dot": "dot",
        "dictate/forhelp": "press star for help, or pound to exit",
        "agent-pass": "Please enter your password followed by the pound key.",
    }


needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")


def encode_g722(path, seconds=0.5):
    t = np.arange(int(16_000 * seconds)) / 16_000
    sf.write(str(path.with_suffix(".wav")), (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32), 16_000)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(path.with_suffix(".wav")), "-f", "g722", str(path)],
                   check=True)


@needs_ffmpeg
def test_g722_decodes_to_16khz_wav_once(tmp_path):
    encode_g722(tmp_path / "x.g722")
    out = asr.decode_g722(tmp_path / "x.g722", tmp_path / "cache" / "x.wav")
    wave, sr = sf.read(str(out))
    assert sr == 16_000 and abs(wave.size - 8000) < 400
    stamp = out.stat().st_mtime_ns
    asr.decode_g722(tmp_path / "x.g722", out)
    assert out.stat().st_mtime_ns == stamp


@needs_ffmpeg
def test_asterisk_records_keep_long_prompts_in_a_seeded_order(tmp_path):
    import gzip

    sounds = tmp_path / "sounds"
    (sounds / "dictate").mkdir(parents=True)
    for name in ("agent-pass", "dictate/forhelp", "letters/dot"):
        (sounds / name).parent.mkdir(parents=True, exist_ok=True)
        encode_g722(sounds / f"{name}.g722", 0.2)
    transcripts = tmp_path / "t.txt.gz"
    transcripts.write_bytes(gzip.compress(TRANSCRIPTS.encode()))
    records = asr.asterisk_records(tmp_path / "out", seed=0, sounds=sounds, transcripts=transcripts)
    assert sorted(r["key"] for r in records) == ["asterisk-agent-pass", "asterisk-dictate/forhelp"]  # "dot" is 1 word
    assert all((tmp_path / "out" / r["audio_path"]).is_file() for r in records)
    assert len(asr.asterisk_records(tmp_path / "out", 0, limit=1, sounds=sounds, transcripts=transcripts)) == 1


def test_missing_asterisk_packages_skip_the_human_condition_with_a_note(tmp_path, monkeypatch):
    monkeypatch.setattr(asr, "ASTERISK_TRANSCRIPTS", tmp_path / "absent.txt.gz")
    path, notes = asr.build_asr_set(tmp_path, limit=2, speak=fake_speak)
    assert "apt-get install asterisk-core-sounds-en-g722" in notes["skipped"]["human"]
    items = asr.read_asr(path).items
    assert [i.condition for i in items] == ["synthetic", "synthetic"]
    assert items[0].content[0] == {"type": "text", "text": asr.PROMPT}


def test_synthetic_asr_sentences_use_held_out_voices_in_turn():
    records = asr.plan_synthetic(25, seed=0)
    assert len(records) == 25 and len({r["voice"] for r in records}) == 10
    assert {voice_split(r["voice"]) for r in records} == {"held_out"}


def test_asr_reader_requires_a_reference(tmp_path):
    sf.write(str(tmp_path / "a.wav"), fake_speak("", ""), 16_000)
    (tmp_path / "a.jsonl").write_text(json.dumps({"key": "k", "audio_path": "a.wav", "text": " "}) + "\n")
    with pytest.raises(BenchmarkDataError, match=r":1: 'text' \(the reference transcript\)"):
        asr.read_asr(tmp_path / "a.jsonl")
