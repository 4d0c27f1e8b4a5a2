"""Specification of the `instruct` benchmark's reader (SpeechInstructBench JSONL) and its builder."""

import json
import re
from collections import Counter

import numpy as np
import pytest
import soundfile as sf

from voxlm.eval import instruct
from voxlm.eval.files import BenchmarkDataError
from voxlm.tts import voice_split


def write_lines(folder, lines, audio=("a.wav",)):
    for name in audio:
        sf.write(str(folder / name), np.zeros(1600, np.float32), 16_000)
    path = folder / "bench.jsonl"
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def line(key=1, ids=("punctuation:no_comma",), kwargs=({},), audio="a.wav", **extra):
    return {"key": key, "audio_path": audio, "prompt": "Say hi. Do not use commas.",
            "instruction_id_list": list(ids), "kwargs": list(kwargs), **extra}


# ---- reader ----------------------------------------------------------------------------------


def test_reads_speechinstructbench_lines(tmp_path):
    path = write_lines(tmp_path, [line(7, ["length_constraints:number_words"],
                                       [{"relation": "less than", "num_words": 10, "num_sentences": None}])])
    [item] = instruct.read_instruct(path).items
    assert item.id == "7" and item.condition == "default"
    assert item.content == [{"type": "audio", "audio": str((tmp_path / "a.wav").resolve()),
                             "text": "Say hi. Do not use commas."}]
    assert item.meta["kwargs"] == [{"relation": "less than", "num_words": 10, "num_sentences": None}]


def test_malformed_json_names_the_line(tmp_path):
    path = write_lines(tmp_path, [line(1), "", '{"key": 2, "audio_path": '])
    with pytest.raises(BenchmarkDataError, match=r"bench\.jsonl:3: not valid JSON"):
        instruct.read_instruct(path)


def test_missing_field_names_the_line_and_the_format(tmp_path):
    record = line(2)
    del record["kwargs"]
    path = write_lines(tmp_path, [line(1), record])
    with pytest.raises(BenchmarkDataError, match=r":2: missing field\(s\) \['kwargs'\].*'key', 'audio_path'"):
        instruct.read_instruct(path)


def test_missing_audio_is_a_clear_error(tmp_path):
    path = write_lines(tmp_path, [line(1, audio="clips/none.wav")])
    with pytest.raises(BenchmarkDataError, match=r":1: audio file .*clips/none\.wav not found .*relative to"):
        instruct.read_instruct(path)


def test_kwargs_must_match_the_ids(tmp_path):
    path = write_lines(tmp_path, [line(1, ids=["punctuation:no_comma", "detectable_format:title"], kwargs=[{}])])
    with pytest.raises(BenchmarkDataError, match=r":1: 'kwargs' must be a list of 2 objects"):
        instruct.read_instruct(path)


def test_duplicate_keys_are_rejected(tmp_path):
    path = write_lines(tmp_path, [line(1), line(1)])
    with pytest.raises(BenchmarkDataError, match=r":2: duplicate key '1'"):
        instruct.read_instruct(path)


def test_unknown_ids_are_counted_as_unsupported_not_fatal(tmp_path):
    path = write_lines(tmp_path, [
        line(1),
        line(2, ids=["punctuation:no_comma", "detectable_format:sarcasm"], kwargs=[{}, {}]),
        line(3, ids=["detectable_format:sarcasm"], kwargs=[{}]),
        line(4, ids=["length_constraints:number_words"], kwargs=[{"relation": "less than"}]),  # num_words missing
    ])
    item_set = instruct.read_instruct(path)
    assert [i.id for i in item_set.items] == ["1"]
    unsupported = item_set.notes["unsupported"]
    assert unsupported["items"] == 3
    assert unsupported["unknown_instruction_ids"] == {"detectable_format:sarcasm": 2}
    assert [u["line"] for u in unsupported["lines"]] == [2, 3, 4]
    assert "missing kwargs ['num_words']" in unsupported["lines"][2]["reason"]


def test_a_file_with_nothing_scorable_is_an_error(tmp_path):
    path = write_lines(tmp_path, [line(1, ids=["x:y"], kwargs=[{}])])
    with pytest.raises(BenchmarkDataError, match="no item can be scored"):
        instruct.read_instruct(path)


def test_limit_keeps_the_first_items_of_each_condition(tmp_path):
    lines = [line(k, condition=c) for k, c in enumerate(["a", "b", "a", "a", "b"])]
    items = instruct.read_instruct(write_lines(tmp_path, lines), limit=2).items
    assert [(i.id, i.condition) for i in items] == [("0", "a"), ("1", "b"), ("2", "a"), ("4", "b")]


# ---- builder -----------------------------------------------------------------------------------


def test_plan_is_balanced_over_conditions_and_paired():
    records = instruct.plan_instruct_set(300, seed=0)
    assert Counter(r["condition"] for r in records) == {c: 60 for c in instruct.CONDITIONS}
    # Every base prompt appears once in each condition, so conditions compare the same prompts.
    by_condition = {c: [r["prompt"] for r in records if r["condition"] == c] for c in instruct.CONDITIONS}
    assert all(prompts == by_condition["standard"] for prompts in by_condition.values())


def test_plan_uses_held_out_voices_only_and_accented_ones_for_accent():
    records = instruct.plan_instruct_set(300, seed=1)
    assert {voice_split(r["voice"]) for r in records} == {"held_out"}
    assert {r["voice"] for r in records if r["condition"] == "accent"} == set(instruct.ACCENT_VOICES)
    assert {r["voice"] for r in records if r["condition"] != "accent"} == set(instruct.STANDARD_VOICES)


def test_plan_instructions_come_from_the_held_out_source():
    sources = instruct.INSTRUCTIONS + instruct.YES_NO_QUESTIONS
    assert len(set(sources)) == len(sources) >= 60
    for r in instruct.plan_instruct_set(100, seed=2):
        assert any(r["prompt"].startswith(s) for s in sources)
        assert 1 <= len(r["instruction_id_list"]) <= 2


def test_plan_conditions_change_only_what_they_should():
    for r in instruct.plan_instruct_set(300, seed=3):
        aug = r["augmentation"]
        if r["condition"] == "background":
            assert aug["noise"] in ("music", "babble", "pink") and 5.0 <= aug["snr_db"] <= 15.0
        elif r["condition"] == "paralinguistics":
            assert 0.75 <= aug["rate"] <= 1.35 and -3.0 <= aug["pitch_semitones"] <= 3.0
        else:
            assert aug is None
        if r["condition"] == "disfluency":
            assert r["spoken_text"] != r["prompt"]  # the written prompt (text ceiling) stays clean
        else:
            assert r["spoken_text"] == r["prompt"]


def test_plan_constraints_are_compatible_and_sensible():
    for r in instruct.plan_instruct_set(1000, seed=4):
        ids = set(r["instruction_id_list"])
        if "detectable_format:constrained_response" in ids:
            assert ids == {"detectable_format:constrained_response"}
            assert any(r["prompt"].startswith(q) for q in instruct.YES_NO_QUESTIONS)
        assert not ({"change_case:english_lowercase", "change_case:english_capital"} <= ids)
        kwargs = dict(zip(r["instruction_id_list"], r["kwargs"]))
        if "keywords:forbidden_words" in kwargs:
            source = next(s for s in instruct.INSTRUCTIONS + instruct.YES_NO_QUESTIONS if r["prompt"].startswith(s))
            required = kwargs.get("keywords:existence", {}).get("keywords", [])
            for word in kwargs["keywords:forbidden_words"]["forbidden_words"]:
                assert not re.search(rf"\b{word}\b", source.lower()) and word not in required


def test_plan_is_deterministic_under_the_seed():
    assert instruct.plan_instruct_set(50, seed=5) == instruct.plan_instruct_set(50, seed=5)
    assert instruct.plan_instruct_set(50, seed=5) != instruct.plan_instruct_set(50, seed=6)


class FakeSpeak:
    """A fast stand-in for TTS: 0.5 s of a tone per call, the calls recorded."""

    def __init__(self):
        self.calls = []

    def __call__(self, text, voice):
        self.calls.append((text, voice))
        t = np.arange(8000) / 16_000
        return (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def test_build_writes_readable_jsonl_with_cached_audio(tmp_path):
    speak = FakeSpeak()
    path = instruct.build_instruct_set(tmp_path, n=300, seed=0, limit=2, speak=speak)
    records = [json.loads(x) for x in path.read_text().splitlines()]
    assert Counter(r["condition"] for r in records) == {c: 2 for c in instruct.CONDITIONS}
    assert len(speak.calls) == 10 and {voice_split(v) for _, v in speak.calls} == {"held_out"}
    item_set = instruct.read_instruct(path)
    assert len(item_set.items) == 10 and "unsupported" not in item_set.notes
    for r in records:
        wave, sr = sf.read(str(tmp_path / r["audio_path"]))
        assert sr == 16_000 and wave.size > 0

    again = FakeSpeak()
    assert instruct.build_instruct_set(tmp_path, n=300, seed=0, limit=2, speak=again) == path
    assert again.calls == []  # every clip was already on disk


def test_build_applies_the_condition_to_the_audio(tmp_path):
    path = instruct.build_instruct_set(tmp_path, n=5, seed=0, speak=FakeSpeak())
    records = {r["condition"]: r for r in map(json.loads, path.read_text().splitlines())}
    clean = sf.read(str(tmp_path / records["standard"]["audio_path"]))[0]
    noisy = sf.read(str(tmp_path / records["background"]["audio_path"]))[0]
    stretched = sf.read(str(tmp_path / records["paralinguistics"]["audio_path"]))[0]
    assert noisy.size == clean.size and not np.allclose(noisy, clean, atol=1e-3)
    assert stretched.size == pytest.approx(clean.size / records["paralinguistics"]["augmentation"]["rate"], abs=2)
