"""A hand-written file in SpeechInstructBench's closed-ended format (`closed_standard_en.jsonl`: integer keys,
`audio_path` beside it, IFEval ids and kwargs, some kwargs the Hugging Face IFEval way with every key and most
None), spoken by held-out voices: `voxlm eval --bench instruct --data FILE` reads it and scores every line.

The real SpeechInstructBench files are not available offline; tests/fixtures/speechinstructbench stands in.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from voxlm import ifeval
from voxlm.eval import cli, instruct
from voxlm.eval.baselines import Systems
from voxlm.inference import SpeechChat

FIXTURE = Path(__file__).parent / "fixtures" / "speechinstructbench" / "closed_standard_en.jsonl"


def test_the_fixture_reads_as_four_scorable_items():
    items = instruct.read_instruct(FIXTURE)
    assert [i.id for i in items.items] == ["1001", "1002", "1003", "1004"]
    assert not items.notes  # nothing unsupported: the None-filled kwargs resolve
    assert items.items[1].meta["instruction_id_list"] == ["length_constraints:number_words"]
    assert all(Path(i.content[0]["audio"]).is_file() for i in items.items)


def passes(item, response: str) -> bool:
    return ifeval.evaluate_item(response, item.meta["instruction_id_list"], item.meta["kwargs"],
                                item.meta["prompt"])["prompt_strict"]


def test_its_lines_are_scored_by_the_checkers_as_written():
    items = {i.id: i for i in instruct.read_instruct(FIXTURE).items}
    assert passes(items["1003"], "the moon is bright.") and not passes(items["1003"], "The Moon is bright.")
    assert passes(items["1002"], "Grey skies and soft rain.") and not passes(items["1002"], "rain " * 45)
    assert passes(items["1004"], "Go to bed early. Keep the room dark. Sleep tight.")
    assert not passes(items["1004"], "Go to bed early, keep it dark. Sleep tight.")


class FixedASR:
    def __call__(self, wave):
        return "name three fruits"


def test_voxlm_eval_scores_the_file(make_tiny, tmp_path, monkeypatch):
    model, processor = make_tiny()
    systems = Systems(SpeechChat(model, processor), FixedASR(), max_new_tokens=4)
    monkeypatch.setattr(Systems, "load", classmethod(lambda cls, checkpoint, max_new_tokens, overrides: systems))
    parser = argparse.ArgumentParser()
    cli.add_eval_arguments(parser)
    out = tmp_path / "out"
    assert cli.run_eval(parser.parse_args(["--bench", "instruct", "--data", str(FIXTURE), "--out", str(out),
                                           "--no-progress", "--max-new-tokens", "4"])) == 0
    section = json.loads((out / "results.json").read_text())["benchmarks"]["instruct"]
    assert section["source"] == str(FIXTURE)
    assert section["num_items"] == {"default": 4, "all": 4}
    for system in ("text", "cascade", "speech"):
        scores = section["metrics"][system]["all"]
        assert set(scores) == set(instruct.METRICS) and all(0.0 <= v <= 1.0 for v in scores.values())
