"""End to end on a tiny random VoxLM, a stub ASR and a stub TTS: the three systems, the results
section, the response log (resume), and `voxlm eval` writing results.json, report.md and plots."""

import argparse
import json

import numpy as np
import pytest

from voxlm.eval import benchmarks, cli, instruct
from voxlm.eval.baselines import Item, Systems
from voxlm.eval.benchmarks import BENCHMARKS, ResponseLog, evaluate
from voxlm.inference import SpeechChat


def fake_speak(text, voice):
    t = np.arange(8000) / 16_000
    return (0.2 * np.sin(2 * np.pi * 180 * t)).astype(np.float32)


class FakeASR:
    def __init__(self):
        self.calls = 0

    def __call__(self, wave):
        self.calls += 1
        return "what is said in this audio clip"


@pytest.fixture
def systems(make_tiny):
    model, processor = make_tiny()
    return Systems(SpeechChat(model, processor), FakeASR(), max_new_tokens=4)


@pytest.fixture
def instruct_set(tmp_path):
    path = instruct.build_instruct_set(tmp_path / "set", n=300, seed=0, limit=1, speak=fake_speak)
    return instruct.read_instruct(path)


def test_systems_see_gold_text_asr_text_or_audio(systems, tmp_path):
    import soundfile as sf

    sf.write(str(tmp_path / "a.wav"), fake_speak("", ""), 16_000)
    item = Item("1", "c", [{"type": "text", "text": "Summarize."},
                           {"type": "audio", "audio": str(tmp_path / "a.wav"), "text": "gold words"}])
    assert systems.conversation(item, "text")[0]["content"][1] == {"type": "text", "text": "gold words"}
    assert systems.conversation(item, "cascade")[0]["content"][1]["text"] == "what is said in this audio clip"
    speech = systems.conversation(item, "speech")[0]["content"][1]
    assert speech["type"] == "audio" and speech["audio"].shape == (8000,)
    assert systems.answer(item, "whisper")[0] == "what is said in this audio clip"
    systems.answer(item, "cascade")
    assert systems.transcribe.calls == 1  # one ASR pass per clip, shared by whisper and cascade
    assert systems.answer(item, "connector")[0] == systems.chat.transcribe([str(tmp_path / "a.wav")])[0]


def test_an_interface_override_keys_its_own_answers(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert cli.model_key(str(tmp_path), 0) == cli.model_key(str(tmp_path), 0, {})
    assert cli.model_key(str(tmp_path), 0, {"interface": "projector"}) != cli.model_key(str(tmp_path), 0)


def test_max_new_tokens_caps_each_items_budget(systems):
    systems.max_new_tokens = None
    assert systems.budget(Item("1", "c", [], max_new_tokens=128)) == 128
    systems.max_new_tokens = 16
    assert systems.budget(Item("1", "c", [], max_new_tokens=128)) == 16
    assert systems.budget(Item("1", "c", [], max_new_tokens=8)) == 8


def test_evaluate_scores_every_condition_and_the_gap(systems, instruct_set, tmp_path):
    section = evaluate(BENCHMARKS["instruct"], instruct_set, systems, progress=False)
    assert section["conditions"] == list(instruct.CONDITIONS)
    assert section["num_items"] == {**{c: 1 for c in instruct.CONDITIONS}, "all": 5}
    for system in ("text", "cascade", "speech"):
        assert set(section["metrics"][system]) == set(instruct.CONDITIONS) | {"all"}
        assert set(section["metrics"][system]["all"]) == set(instruct.METRICS)
        assert section["timing"][system]["items"] == 5 and section["timing"][system]["seconds"] > 0
    for condition, row in section["modality_gap"].items():
        for metric, ratio in row.items():
            text = section["metrics"]["text"][condition][metric]
            speech = section["metrics"]["speech"][condition][metric]
            assert ratio == (round(speech / text, 4) if text else None)


def test_response_log_resumes_without_answering_again(systems, instruct_set, tmp_path):
    log_path = tmp_path / "responses" / "instruct.jsonl"
    first = evaluate(BENCHMARKS["instruct"], instruct_set, systems, ResponseLog(log_path, "m1"), progress=False)
    assert len(log_path.read_text().splitlines()) == 15  # 5 items x 3 systems

    class Refuses:
        def __call__(self, *args, **kwargs):
            raise AssertionError("the log should have answered")

    systems.chat.replies = Refuses()
    again = evaluate(BENCHMARKS["instruct"], instruct_set, systems, ResponseLog(log_path, "m1"), progress=False)
    assert again["answers_reused"] == 15 and again["metrics"] == first["metrics"]
    with pytest.raises(AssertionError, match="should have answered"):  # another model reuses nothing
        evaluate(BENCHMARKS["instruct"], instruct_set, systems, ResponseLog(log_path, "m2"), progress=False)


def test_batched_evaluation_scores_as_one_at_a_time_and_resumes(systems, instruct_set, tmp_path):
    one = evaluate(BENCHMARKS["instruct"], instruct_set, systems, progress=False, batch_size=1)
    log_path = tmp_path / "responses.jsonl"
    log = ResponseLog(log_path, "m1")
    answered = []
    original = systems.answers

    def killed_after_four(items, system, batch_size=1):  # a run killed after its fourth answer
        for answer in original(items, system, batch_size):
            answered.append(answer)
            yield answer
            if len(answered) == 4:
                raise KeyboardInterrupt

    systems.answers = killed_after_four
    with pytest.raises(KeyboardInterrupt):
        evaluate(BENCHMARKS["instruct"], instruct_set, systems, log, progress=False, batch_size=4)
    systems.answers = original
    assert len(log_path.read_text().splitlines()) == 4  # each answer logged as it came
    resumed = evaluate(BENCHMARKS["instruct"], instruct_set, systems, ResponseLog(log_path, "m1"), progress=False,
                       batch_size=4)
    assert resumed["answers_reused"] == 4 and resumed["metrics"] == one["metrics"]


def test_greedy_answers_are_deterministic(systems, instruct_set):
    a = evaluate(BENCHMARKS["instruct"], instruct_set, systems, progress=False)
    b = evaluate(BENCHMARKS["instruct"], instruct_set, systems, progress=False)
    assert a["metrics"] == b["metrics"]


def parse(*argv):
    parser = argparse.ArgumentParser()
    cli.add_eval_arguments(parser)
    return parser.parse_args(list(argv))


def test_voxlm_eval_writes_results_report_and_plots(systems, tmp_path, monkeypatch, capsys):
    import voxlm.tts

    monkeypatch.setattr(voxlm.tts, "speak", fake_speak)
    monkeypatch.setattr(Systems, "load", classmethod(lambda cls, checkpoint, max_new_tokens, overrides: systems))
    out = tmp_path / "out"
    args = parse("--bench", "all", "--out", str(out), "--limit", "1", "--cache", str(tmp_path / "cache"),
                 "--no-progress", "--max-new-tokens", "3")
    assert cli.run_eval(args) == 0
    results = json.loads((out / "results.json").read_text())
    assert list(results["benchmarks"]) == ["instruct", "generalize", "asr"]
    meta = results["metadata"]
    assert meta["seed"] == 0 and meta["limit"] == 1 and meta["max_new_tokens"] == 3
    assert set(meta["metric_versions"]) == {"rouge-score", "jiwer", "whisper-normalizer"}
    assert results["benchmarks"]["generalize"]["conditions"] == ["train", "held_out_prompt", "held_out_task"]
    assert results["benchmarks"]["asr"]["systems"] == ["text", "cascade", "speech", "whisper", "connector"]
    assert "synthetic" in results["benchmarks"]["asr"]["conditions"]
    for name in ("report.md", "instruct.png", "generalize.png", "asr.png", "modality_gap.png",
                 "responses/instruct.jsonl", "responses/generalize.jsonl", "responses/asr.jsonl"):
        assert (out / name).is_file(), name
    assert "instruct — prompt_level_strict_acc" in capsys.readouterr().out


def test_data_needs_a_single_benchmark(tmp_path):
    with pytest.raises(SystemExit, match="pick --bench"):
        cli.run_eval(parse("--out", str(tmp_path), "--data", "x.jsonl"))


def test_a_bad_data_file_fails_before_any_model_loads(tmp_path, monkeypatch):
    monkeypatch.setattr(Systems, "load", classmethod(lambda *a: pytest.fail("model loaded")))
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json}\n")
    with pytest.raises(ValueError, match=r"bad\.jsonl:1: not valid JSON"):
        cli.run_eval(parse("--bench", "instruct", "--out", str(tmp_path / "o"), "--data", str(bad)))


@pytest.mark.parametrize("bench", ["instruct", "generalize", "asr"])
def test_a_data_file_that_is_not_utf8_is_named_with_its_line(tmp_path, monkeypatch, bench):
    monkeypatch.setattr(Systems, "load", classmethod(lambda *a: pytest.fail("model loaded")))
    bad = tmp_path / "latin1.jsonl"
    bad.write_bytes('\n{"id": "caf\xe9"}\n'.encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1\.jsonl:2: not UTF-8 text \(byte 0xe9 at column 12\)"):
        cli.run_eval(parse("--bench", bench, "--out", str(tmp_path / "o"), "--data", str(bad)))


def test_every_benchmark_is_registered_with_consistent_metrics():
    for bench in benchmarks.BENCHMARKS.values():
        assert bench.headline in bench.metrics and bench.metrics[bench.headline]
        assert {"text", "cascade", "speech"} <= set(bench.systems)


def test_answers_of_systems_without_the_connector_are_reused_across_checkpoints(tmp_path):
    from voxlm.eval.baselines import Item
    from voxlm.eval.benchmarks import ResponseLog

    path = tmp_path / "responses.jsonl"
    item = Item(id="q1", condition="standard", content=[{"type": "text", "text": "hi"}])
    first = ResponseLog(path, "ckpt-a", {"text": "llm:smol"})
    first.put("text", item, "fp", "text answer", 1.0)
    first.put("speech", item, "fp", "speech answer", 1.0)
    second = ResponseLog(path, "ckpt-b", {"text": "llm:smol"})
    assert second.get("text", "fp") == ("text answer", 1.0)
    assert second.get("speech", "fp") is None


def test_a_checkpoints_own_decoding_defaults_key_the_text_and_cascade_answers(systems, tmp_path):
    model = systems.chat.model
    model.language_model.save_pretrained(tmp_path / "llm")
    model.config.text_model = str(tmp_path / "llm")
    assert cli.decoding(systems) == {}
    plain = cli.base_model_keys(model.config, systems, {})

    model.language_model.generation_config.repetition_penalty = 1.2
    changed = cli.decoding(systems)
    assert changed == {"repetition_penalty": 1.2}
    keyed = cli.base_model_keys(model.config, systems, changed)
    assert keyed["text"] != plain["text"] and keyed["cascade"] != plain["cascade"]
    assert keyed["whisper"] == plain["whisper"]  # Whisper alone never decodes with the LLM
