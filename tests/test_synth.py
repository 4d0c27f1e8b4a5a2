"""Specification of `voxlm synth` (voxlm.data.synth): requests -> sharded, resumable speech dataset.

Most tests replace the TTS with `fake_speak`, a deterministic stand-in (noise seeded by voice and
text, 0.05 s per word), so they run in a fraction of a second and compare outputs exactly.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import voxlm.data.synth as synth
from voxlm.audio.augment import augment
from voxlm.data.synth import (
    MANIFEST,
    RequestError,
    add_synth_arguments,
    augmentation_of,
    choose_voice,
    owned_shards,
    read_requests,
    resolve_voice_pool,
    run_synth,
    synthesize,
)
from voxlm.tts import HELD_OUT_VOICES, TRAIN_VOICES, check_speakable

POOL = "espeak:en-us,flite:slt,flite:kal16"
SAMPLES_PER_WORD = 800


def fake_speak(text: str, voice: str) -> np.ndarray:
    """Deterministic TTS stand-in: ValueError like the real voices for unspeakable text, RuntimeError on 'CRASH'."""
    text = check_speakable(text)
    if "CRASH" in text:
        raise RuntimeError(f"{voice}: engine failed")
    seed = int.from_bytes(hashlib.sha256(f"{voice}|{text}".encode()).digest()[:8], "little")
    return (0.1 * np.random.default_rng(seed).standard_normal(SAMPLES_PER_WORD * len(text.split()))).astype(np.float32)


@pytest.fixture
def fake_tts(monkeypatch):
    """Route synthesis through `fake_speak`; returns the list of (text, voice) it was asked for."""
    calls = []

    def speak(text, voice):
        calls.append((text, voice))
        return fake_speak(text, voice)

    monkeypatch.setattr(synth, "speak", speak)
    monkeypatch.setattr(synth, "_check_engines", lambda voices: None)  # no real engine is needed
    return calls


def write_requests(path: Path, n: int = 10, extra: list[dict] | None = None) -> Path:
    rows = [{"id": f"r{i:03d}", "text": f"Sentence number {i} is spoken here."} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows + (extra or [])), encoding="utf-8")
    return path


def shard_contents(out: Path) -> dict[str, tuple]:
    """Every shard's Arrow table and record (minus timings), for exact comparison between runs."""
    import datasets

    found = {}
    for folder in sorted(out.glob("shard-*")):
        record = json.loads((folder / "shard.json").read_text())
        record.pop("build_seconds")
        found[folder.name] = (datasets.load_from_disk(str(folder)).data.table, record)
    return found


def assert_same_shards(a: Path, b: Path) -> None:
    ca, cb = shard_contents(a), shard_contents(b)
    assert list(ca) == list(cb)
    for name in ca:
        assert ca[name][0].equals(cb[name][0]), name
        assert ca[name][1] == cb[name][1], name


def run(requests: Path, out: Path, **kwargs) -> dict:
    kwargs = {"voices": POOL, "shard_size": 4, "progress": False, "log": lambda m: None, **kwargs}
    return synthesize(requests, out, **kwargs)


# -- requests file -------------------------------------------------------------------------------


@pytest.mark.parametrize("line, problem", [
    ('{"id": "x", "text": "hi"', "not valid JSON"),
    ('["x", "hi"]', "must be a JSON object"),
    ('{"id": "x", "txt": "hi"}', "unknown keys ['txt']"),
    ('{"id": "", "text": "hi"}', '"id" must be a non-empty string'),
    ('{"id": "x", "text": 3}', '"text" must be a string'),
    ('{"id": "x", "text": "hi", "voice": "espeak:en-uss"}', "did you mean espeak:en-us"),
    ('{"id": "x", "text": "hi", "augment": {"speed": 2}}', "unknown Augmentation keys"),
    ('{"id": "x", "text": "hi", "augment": "loud"}', '"augment" must be null'),
    ('{"id": "x", "text": "hi", "disfluency": 2}', '"disfluency" must be a number in [0, 1]'),
    ('{"id": "a", "text": "again"}', "duplicate id 'a' (first on line 1)"),
])
def test_malformed_request_names_its_line(tmp_path, line, problem):
    path = tmp_path / "req.jsonl"
    path.write_text('{"id": "a", "text": "first"}\n\n' + line + "\n")
    with pytest.raises(RequestError) as error:
        read_requests(path)
    assert f"{path}:3:" in str(error.value)
    assert problem in str(error.value)


def test_requests_parse_optional_fields(tmp_path):
    path = tmp_path / "req.jsonl"
    path.write_text('{"id": "a", "text": "x"}\n'
                    '{"id": "b", "text": "y", "voice": "flite:slt", "augment": null, "disfluency": 0.5}\n'
                    '{"id": "c", "text": "z", "augment": {"rate": 1.1}}\n')
    a, b, c = read_requests(path)
    assert (a.voice, a.augment, a.disfluency, a.line) == (None, "default", None, 1)
    assert (b.voice, b.augment, b.disfluency) == ("flite:slt", "none", 0.5)
    assert c.augment["rate"] == 1.1 and c.augment["noise"] is None


# -- voices ------------------------------------------------------------------------------------


def test_voice_choice_is_a_deterministic_hash_of_id_and_seed():
    pool = resolve_voice_pool(POOL)
    assert choose_voice("abc", pool, seed=0) == choose_voice("abc", pool, seed=0)
    chosen = {choose_voice(f"id{i}", pool, seed=0) for i in range(60)}
    assert chosen == set(pool)  # every voice of the pool gets used
    assert [choose_voice(f"id{i}", pool, 0) for i in range(20)] != [choose_voice(f"id{i}", pool, 1) for i in range(20)]


def test_voice_pools():
    assert resolve_voice_pool("train") == TRAIN_VOICES
    assert resolve_voice_pool("held_out") == HELD_OUT_VOICES
    assert resolve_voice_pool(["flite:slt", "flite:slt", "espeak:en-us"]) == ("flite:slt", "espeak:en-us")
    with pytest.raises(ValueError, match="unknown voice"):
        resolve_voice_pool("flite:nobody")


def test_voice_pool_drops_engines_and_voices():
    fast = resolve_voice_pool("train,-kokoro")
    assert fast == tuple(v for v in TRAIN_VOICES if not v.startswith("kokoro:")) and len(fast) >= 10
    assert resolve_voice_pool("held_out,-espeak,-flite:awb") == ("kokoro:nezumi+kumo",)
    assert resolve_voice_pool("-kokoro,flite:slt") == ("flite:slt",)  # a drop acts on the terms before it only
    with pytest.raises(ValueError, match="unknown voice"):
        resolve_voice_pool("train,-flite:nobody")
    with pytest.raises(ValueError, match="empty"):
        resolve_voice_pool("held_out,-espeak,-flite,-kokoro")


def test_held_out_pool_only_uses_held_out_voices(tmp_path, fake_tts):
    manifest = run(write_requests(tmp_path / "r.jsonl", 12), tmp_path / "out", voices="held_out")
    assert set(manifest["voices"]) <= set(HELD_OUT_VOICES)
    assert manifest["clips_by_split"] == {"train": 0, "held_out": 12}


# -- rows ----------------------------------------------------------------------------------------


def test_rows_record_what_was_spoken_and_how(tmp_path, fake_tts):
    import datasets

    requests = write_requests(tmp_path / "r.jsonl", 0, [
        {"id": "plain", "text": "The red car is on the left.", "voice": "flite:slt"},
        {"id": "messy", "text": "The red car is on the left side of the road.", "disfluency": 1.0,
         "augment": {"rate": 1.25, "noise": "white", "snr_db": 10}},
    ])
    run(requests, tmp_path / "out", shard_size=8)
    ds = datasets.load_from_disk(str(tmp_path / "out" / "shard-00000"))
    plain, messy = ds[0], ds[1]
    assert plain["voice"] == "flite:slt" and plain["text"] == plain["source_text"] == "The red car is on the left."
    assert plain["sampling_rate"] == 16000
    assert np.array_equal(np.asarray(plain["audio"], np.float32), fake_speak(plain["text"], "flite:slt"))
    assert plain["seconds"] == 7 * SAMPLES_PER_WORD / 16000
    # Disfluent: more words spoken than written; the audio is the augmented speech of the spoken text.
    assert messy["source_text"] == "The red car is on the left side of the road."
    assert len(messy["text"].split()) > len(messy["source_text"].split())
    assert messy["voice"] == choose_voice("messy", resolve_voice_pool(POOL), 0)
    spec, seed = augmentation_of(messy["augmentation"])
    assert spec.rate == 1.25 and spec.noise == "white"
    rebuilt = augment(fake_speak(messy["text"], messy["voice"]), spec, seed)
    np.testing.assert_array_equal(np.asarray(messy["audio"], np.float32), rebuilt)


def test_skipped_texts_are_counted_with_reasons(tmp_path, fake_tts):
    requests = write_requests(tmp_path / "r.jsonl", 3, [
        {"id": "emoji", "text": "😀🎉"},
        {"id": "empty", "text": ""},
        {"id": "crash", "text": "CRASH here"},
        {"id": "long", "text": " ".join(["word"] * 80)},  # 80 * 0.05 s = 4 s
    ])
    manifest = run(requests, tmp_path / "out", max_seconds=3.0)
    assert manifest["clips"] == 3 and manifest["skipped"] == 4
    assert manifest["skipped_by_reason"] == {"engine_error": 1, "too_long": 1, "unspeakable": 2}
    by_id = {item["id"]: item for item in manifest["skipped_items"]}
    assert by_id["emoji"]["line"] == 4 and "no letters or digits" in by_id["emoji"]["detail"]
    assert by_id["long"]["reason"] == "too_long"
    assert manifest == json.loads((tmp_path / "out" / MANIFEST).read_text())


def test_an_engine_failing_on_every_request_stops_the_run(tmp_path, fake_tts, monkeypatch):
    def broken(text, voice):
        raise RuntimeError(f"{voice}: model file is damaged")

    monkeypatch.setattr(synth, "speak", broken)
    with pytest.raises(RuntimeError, match="all 5 requests of shard 0 failed.*model file is damaged"):
        run(write_requests(tmp_path / "r.jsonl", 5), tmp_path / "out", shard_size=5)
    assert not (tmp_path / "out" / "shard-00000").exists()


# -- resumability --------------------------------------------------------------------------------


class Killed(BaseException):
    """Not an Exception: nothing in synth may swallow it, like a KeyboardInterrupt."""


def test_resume_after_a_crash_matches_an_uninterrupted_run(tmp_path, fake_tts, monkeypatch):
    requests = write_requests(tmp_path / "r.jsonl", 10)  # shards of 4, 4, 2
    run(requests, tmp_path / "whole")

    calls = {"n": 0}

    def dies_after_six(text, voice):
        calls["n"] += 1
        if calls["n"] > 6:
            raise Killed()
        return fake_speak(text, voice)

    monkeypatch.setattr(synth, "speak", dies_after_six)
    with pytest.raises(Killed):
        run(requests, tmp_path / "resumed")
    out = tmp_path / "resumed"
    assert sorted(p.name for p in out.iterdir()) == ["shard-00000"]  # shard 1 was not written half-done
    (out / ".shard-00001.tmp-host-1").mkdir()  # what a kill during the save would leave behind

    monkeypatch.setattr(synth, "speak", fake_speak)
    manifest = run(requests, out)
    assert manifest["last_run"]["shards_reused"] == [0]
    assert manifest["last_run"]["shards_built"] == [1, 2]
    assert not list(out.glob(".shard-*"))
    assert_same_shards(tmp_path / "whole", out)


KILL_SCRIPT = """
import sys, time
sys.path.insert(0, {tests!r})
import voxlm.data.synth as synth
from test_synth import fake_speak

def slow(text, voice):
    time.sleep(0.1)
    return fake_speak(text, voice)

synth.speak = slow
synth._check_engines = lambda voices: None
synth.synthesize(sys.argv[1], sys.argv[2], voices={pool!r}, shard_size=4, progress=False)
"""


def test_resume_after_sigkill_matches_an_uninterrupted_run(tmp_path, fake_tts):
    requests = write_requests(tmp_path / "r.jsonl", 20)  # 5 shards, ~0.4 s each
    run(requests, tmp_path / "whole")
    script = tmp_path / "run.py"
    script.write_text(KILL_SCRIPT.format(tests=str(Path(__file__).parent), pool=POOL))
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(script), str(requests), str(out)])
    try:
        deadline = time.time() + 60
        while not (out / "shard-00001").exists() and time.time() < deadline:
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert (out / "shard-00001").exists() and not (out / MANIFEST).exists()  # killed mid-run
    manifest = run(requests, out)
    assert manifest["last_run"]["shards_reused"][:2] == [0, 1] and manifest["complete"]
    assert_same_shards(tmp_path / "whole", out)


def test_rerun_is_a_no_op(tmp_path, fake_tts):
    requests = write_requests(tmp_path / "r.jsonl", 6)
    first = run(requests, tmp_path / "out")
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "out").rglob("*.arrow")}
    n_calls = len(fake_tts)
    second = run(requests, tmp_path / "out")
    assert len(fake_tts) == n_calls
    assert second["last_run"]["shards_built"] == [] and second["last_run"]["shards_reused"] == [0, 1]
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert {k: v for k, v in first.items() if k != "last_run"} == {k: v for k, v in second.items() if k != "last_run"}


@pytest.mark.parametrize("damage", ["truncate arrow", "delete record", "delete state.json", "garbage arrow"])
def test_corrupt_shard_is_detected_and_rebuilt(tmp_path, fake_tts, damage):
    requests = write_requests(tmp_path / "r.jsonl", 10)
    run(requests, tmp_path / "good")
    out = tmp_path / "out"
    shutil.copytree(tmp_path / "good", out)
    shard = out / "shard-00001"
    arrow = next(shard.glob("*.arrow"))
    if damage == "truncate arrow":
        arrow.write_bytes(arrow.read_bytes()[: arrow.stat().st_size // 2])
    elif damage == "delete record":
        (shard / "shard.json").unlink()
    elif damage == "delete state.json":
        (shard / "state.json").unlink()
    else:  # same size, unreadable content
        arrow.write_bytes(b"\x00" * arrow.stat().st_size)
    messages = []
    manifest = run(requests, out, log=messages.append)
    assert [r["shard"] for r in manifest["last_run"]["shards_rebuilt"]] == [1]
    assert manifest["last_run"]["shards_rebuilt"][0]["why"].startswith("corrupt")
    assert manifest["last_run"]["shards_reused"] == [0, 2]
    assert any("shard-00001: corrupt" in m for m in messages)
    assert_same_shards(tmp_path / "good", out)


def test_changed_requests_rebuild_only_their_shard(tmp_path, fake_tts):
    requests = write_requests(tmp_path / "r.jsonl", 10)
    run(requests, tmp_path / "out")
    lines = requests.read_text().splitlines()
    lines[5] = json.dumps({"id": "r005", "text": "A different sentence now."})
    requests.write_text("\n".join(lines) + "\n")
    manifest = run(requests, tmp_path / "out")
    assert manifest["last_run"]["shards_rebuilt"] == [{"shard": 1, "why": "stale"}]
    assert manifest["last_run"]["shards_reused"] == [0, 2]


# -- splitting the work --------------------------------------------------------------------------


def test_owned_shards_partition():
    parts = [owned_shards(10, i, 3) for i in range(3)]
    assert parts == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    with pytest.raises(ValueError):
        owned_shards(10, 3, 3)


def test_machines_split_one_job(tmp_path, fake_tts):
    requests = write_requests(tmp_path / "r.jsonl", 18)  # 5 shards
    run(requests, tmp_path / "single")
    out = tmp_path / "shared"
    first = run(requests, out, worker_index=0, num_machines=2)
    assert first["last_run"]["shards_built"] == [0, 2, 4]
    assert not first["complete"] and first["missing_shards"] == [1, 3]
    second = run(requests, out, worker_index=1, num_machines=2)
    assert second["last_run"]["shards_built"] == [1, 3]
    assert second["complete"] and second["clips"] == 18
    assert_same_shards(tmp_path / "single", out)


@pytest.mark.skipif(shutil.which("espeak-ng") is None or shutil.which("flite") is None,
                    reason="needs Debian espeak-ng and flite")
def test_worker_processes_match_one_process(tmp_path):
    """Real (deterministic) espeak/flite voices, since spawned workers do not see monkeypatches."""
    requests = write_requests(tmp_path / "r.jsonl", 6)
    one = run(requests, tmp_path / "one", shard_size=2)
    two = run(requests, tmp_path / "two", shard_size=2, num_workers=2)
    assert sorted(two["last_run"]["shards_built"]) == [0, 1, 2]
    assert one["clips"] == two["clips"] == 6
    assert_same_shards(tmp_path / "one", tmp_path / "two")


def test_cli_arguments(tmp_path, fake_tts, capsys):
    requests = write_requests(tmp_path / "r.jsonl", 3, [{"id": "bad", "text": "🙂"}])
    parser = add_synth_arguments(argparse.ArgumentParser())
    args = parser.parse_args([str(requests), str(tmp_path / "out"), "--voices", "flite:slt", "--shard-size", "2",
                              "--seed", "3", "--augment", "random", "--disfluency", "0.1", "--quiet"])
    assert run_synth(args) == 0
    printed = capsys.readouterr().out
    assert "3 clips" in printed and "skipped 1: {'unspeakable': 1}" in printed
    manifest = json.loads((tmp_path / "out" / MANIFEST).read_text())
    assert manifest["settings"]["seed"] == 3 and manifest["settings"]["augment"] == "random"
    assert manifest["voices"] == {"flite:slt": 3}
