"""Specification of the report builder on a fixed results.json: tables, notes and plots."""

import json

import pytest

from voxlm.eval.report import main, write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def section(conditions, metrics, scores, gaps):
    return {
        "description": "test benchmark",
        "source": "built: /tmp/x.jsonl",
        "conditions": conditions,
        "systems": ["text", "cascade", "speech"],
        "higher_is_better": metrics,
        "headline": next(iter(metrics)),
        "num_items": {**{c: 2 for c in conditions}, "all": 2 * len(conditions)},
        "metrics": scores,
        "modality_gap": gaps,
        "cascade_gap": {c: {m: 1.0 for m, up in metrics.items() if up} for c in conditions + ["all"]},
        "timing": {"text": {"items": 4, "seconds": 2.0, "items_per_s": 2.0},
                   "cascade": {"items": 4, "seconds": 4.0, "items_per_s": 1.0},
                   "speech": {"items": 4, "seconds": 8.0, "items_per_s": 0.5}},
        "answers_reused": 0,
    }


@pytest.fixture
def results():
    acc = {"prompt_level_strict_acc": True}
    instruct = section(
        ["standard", "background"], acc,
        {"text": {"standard": {"prompt_level_strict_acc": 1.0}, "background": {"prompt_level_strict_acc": 0.5},
                  "all": {"prompt_level_strict_acc": 0.75}},
         "cascade": {"standard": {"prompt_level_strict_acc": 1.0}, "background": {"prompt_level_strict_acc": 0.5},
                     "all": {"prompt_level_strict_acc": 0.75}},
         "speech": {"standard": {"prompt_level_strict_acc": 0.5}, "background": {"prompt_level_strict_acc": 0.0},
                    "all": {"prompt_level_strict_acc": 0.25}}},
        {"standard": {"prompt_level_strict_acc": 0.5}, "background": {"prompt_level_strict_acc": 0.0},
         "all": {"prompt_level_strict_acc": 0.3333}},
    )
    instruct["notes"] = {"unsupported": {"items": 1, "unknown_instruction_ids": {"x:y": 1},
                                         "lines": [{"key": "9", "line": 4, "reason": "unknown instruction id(s) ['x:y']",
                                                    "unknown_ids": ["x:y"]}]}}
    asr = section(
        ["human"], {"wer": False, "word_accuracy": True},
        {"text": {"human": {"wer": 0.0, "word_accuracy": 1.0}, "all": {"wer": 0.0, "word_accuracy": 1.0}},
         "cascade": {"human": {"wer": 0.2, "word_accuracy": 0.8}, "all": {"wer": 0.2, "word_accuracy": 0.8}},
         "speech": {"human": {"wer": None, "word_accuracy": None}, "all": {"wer": None, "word_accuracy": None}}},
        {"human": {"word_accuracy": None}, "all": {"word_accuracy": None}},
    )
    asr["notes"] = {"skipped": {"synthetic": "no voices"}}
    return {
        "metadata": {"model": "ckpt/", "audio_model": "whisper-tiny.en", "text_model": "smollm2-135m-instruct",
                     "seed": 0, "limit": 2, "max_new_tokens": None, "created": "2025-01-01T00:00:00",
                     "metric_versions": {"rouge-score": "0.1.2", "jiwer": "4.0.0", "whisper-normalizer": "0.1.15"}},
        "benchmarks": {"instruct": instruct, "asr": asr},
    }


def test_report_writes_markdown_and_one_png_per_benchmark_plus_the_gap(tmp_path, results):
    written = write_report(results, tmp_path)
    assert [p.name for p in written] == ["report.md", "instruct.png", "asr.png", "modality_gap.png"]
    for png in written[1:]:
        assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 2000


def test_report_headline_table_has_each_benchmark_and_its_gap(tmp_path, results):
    report = write_report(results, tmp_path)[0].read_text()
    assert "| instruct | prompt_level_strict_acc | 0.750 | 0.750 | 0.250 | 0.333 |" in report
    assert "| asr | wer | 0.000 | 0.200 | – | – |" in report


def test_report_per_condition_rows_with_counts_and_gaps(tmp_path, results):
    report = write_report(results, tmp_path)[0].read_text()
    assert "### prompt_level_strict_acc (higher is better)" in report
    assert "| standard | 2 | 1.000 | 1.000 | 0.500 | 0.500 | 1.000 |" in report
    assert "| background | 2 | 0.500 | 0.500 | 0.000 | 0.000 | 1.000 |" in report
    assert "| all | 4 | 0.750 | 0.750 | 0.250 | 0.333 | 1.000 |" in report
    # Lower-is-better metrics get no ratio columns.
    assert "### wer (lower is better)" in report and "| human | 2 | 0.000 | 0.200 | – |\n" in report


def test_report_lists_metadata_throughput_and_notes(tmp_path, results):
    report = write_report(results, tmp_path)[0].read_text()
    assert "rouge-score 0.1.2, jiwer 4.0.0, whisper-normalizer 0.1.15" in report
    assert "| VoxLM (speech) | 4 | 8.0 | 0.500 |" in report
    assert "`x:y` (1)" in report and "line 4" in report
    assert "**Skipped condition `synthetic`:** no voices" in report
    assert "![instruct](instruct.png)" in report


def test_report_rebuilds_from_a_saved_results_json(tmp_path, results, capsys):
    (tmp_path / "results.json").write_text(json.dumps(results))
    assert main([str(tmp_path)]) == 0
    assert (tmp_path / "report.md").is_file() and "report.md" in capsys.readouterr().out
