"""Real speech in: three Asterisk prompts through `voxlm recordings`, `voxlm features` (whisper-tiny.en) and a few
steps of `recipes/align.yaml` on the default's LLM; the CTC loss falls.

The Asterisk prompts are the asr benchmark's human condition (`voxlm.eval.asr.asterisk_records`): the real speech
the default model is *tested* on. They are imported here into a temporary folder only; no recipe names them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from voxlm.cli import main
from voxlm.data.features import AudioStore
from voxlm.eval.asr import asterisk_records
from voxlm.eval.files import BenchmarkDataError

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "align.yaml"


def test_asterisk_recordings_import_and_align(tmp_path, asset):
    asset("whisper-tiny.en")
    asset("smollm2-135m-instruct")
    try:
        records = asterisk_records(tmp_path / "asr", seed=0, limit=3)
    except BenchmarkDataError as error:
        pytest.skip(str(error))
    listed = tmp_path / "asr" / "list.jsonl"
    listed.write_text("".join(json.dumps({"audio": r["audio_path"], "text": r["text"], "id": r["key"],
                                          "speaker": "asterisk-allison"}) + "\n" for r in records))
    out, run_dir = tmp_path / "human", tmp_path / "run"
    assert main(["recordings", str(listed), "--out", str(out), "--quiet"]) == 0
    store = AudioStore(out)
    assert sorted(store.transcripts()) == sorted(r["key"] for r in records)
    assert main(["features", str(out), "--quiet"]) == 0
    assert main(["train", "--recipe", str(RECIPE), f"train_data=[{out}]", f"speech_data=[{out}]", "eval_data=[]",
                 "hearing_data=[]",
                 "batch_size=3", "max_steps=25", "warmup_steps=1", "learning_rate=3.0e-3", "log_every=1",
                 "eval_every=1000", "save_every=1000", f"output_dir={run_dir}"]) == 0
    losses = [e["ctc"] for e in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines()) if "ctc" in e]
    assert len(losses) == 25
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:5]) / 5, losses
