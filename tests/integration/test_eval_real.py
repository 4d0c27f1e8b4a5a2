"""`voxlm eval --bench all --limit 2` on the default model with the real Whisper cascade and voices."""

import argparse
import json
import math

import pytest

from voxlm.eval import cli


@pytest.mark.integration
def test_eval_all_benchmarks_on_the_default_model(asset, tmp_path):
    asset("whisper-tiny.en")
    asset("smollm2-135m-instruct")
    parser = argparse.ArgumentParser()
    cli.add_eval_arguments(parser)
    # 16 new tokens keep the run short; built audio lands in the shared cache, so reruns skip TTS.
    args = parser.parse_args(["--bench", "all", "--out", str(tmp_path), "--limit", "2", "--max-new-tokens", "16",
                              "--no-progress"])
    assert cli.run_eval(args) == 0

    results = json.loads((tmp_path / "results.json").read_text())
    assert results["metadata"]["audio_model"] == "whisper-tiny.en"
    for name, conditions in (("instruct", 5), ("generalize", 3), ("asr", 2)):
        section = results["benchmarks"][name]
        assert len(section["conditions"]) == conditions, name
        assert section["num_items"]["all"] == 2 * conditions
        for system in section["systems"]:
            value = section["metrics"][system]["all"][section["headline"]]
            assert value is not None and 0.0 <= value <= 1.0 and not math.isnan(value)
    # The cascade's Whisper is real: the human Asterisk prompts are mostly recognised.
    assert results["benchmarks"]["asr"]["metrics"]["whisper"]["human"]["wer"] < 0.5
    # The text ceiling reads the transcript, so it agrees with itself.
    assert results["benchmarks"]["generalize"]["metrics"]["text"]["all"]["agreement_rouge_l"] == 1.0
    assert (tmp_path / "report.md").is_file() and (tmp_path / "modality_gap.png").is_file()
