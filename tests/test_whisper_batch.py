"""`WhisperASR.transcribe_batch` on the real tiny.en (CTranslate2, int8, CPU): the same text as one call per clip."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from voxlm.audio.io import load_audio

pytestmark = pytest.mark.integration

SAMPLE = Path(__file__).resolve().parents[1] / "voxlm" / "samples" / "capital_of_france.flac"
SR = 16_000
WINDOW = 30 * SR  # faster-whisper decodes a clip of at most 30 s (+ < 1 hop) in one window
SENTENCES = ("Turn left at the lights.",
             "Please call Stella and ask her to bring these things with her from the store: six spoons of fresh "
             "snow peas, five thick slabs of blue cheese, and maybe a snack for her brother Bob.")


@pytest.fixture(scope="module")
def asr():
    pytest.importorskip("faster_whisper")
    from voxlm.assets import AssetMissingError, ensure_asset
    from voxlm.eval.baselines import WhisperASR

    try:
        return WhisperASR(ensure_asset("whisper-tiny.en") / "ct2")
    except AssetMissingError as error:
        pytest.skip(str(error))


@pytest.fixture(scope="module")
def clips() -> dict[str, np.ndarray]:
    """Real speech of several lengths (1 s to exactly 30 s), plus silence for the no-speech rule."""
    sample = load_audio(SAMPLE)
    clips = {
        "sample": sample,
        "first second": sample[:SR],
        "tail": sample[SR // 2:],
        "quiet": 0.05 * sample,
        "silence": np.zeros(SR, np.float32),
        "exactly 30 s": np.tile(sample, WINDOW // len(sample) + 1)[:WINDOW],
    }
    if shutil.which("espeak-ng"):
        from voxlm.tts import get_voice

        voice = get_voice("espeak:en-us")
        clips.update({f"espeak {i}": voice.synthesize(text) for i, text in enumerate(SENTENCES)})
    return clips


@pytest.fixture(scope="module")
def one_at_a_time(asr, clips) -> dict[str, str]:
    return {name: asr(wave) for name, wave in clips.items()}


@pytest.fixture
def calls(asr, monkeypatch):
    """Counts faster-whisper `transcribe` calls (the fallback) and batched windows (the CTranslate2 path)."""
    counts = {"transcribe": 0, "windows": 0, "generate": 0}
    transcribe, decode = asr.model.transcribe, asr._decode_windows

    def counted_transcribe(*args, **kwargs):
        counts["transcribe"] += 1
        return transcribe(*args, **kwargs)

    def counted_decode(windows):
        counts["generate"] += 1
        counts["windows"] += len(windows)
        return decode(windows)

    monkeypatch.setattr(asr.model, "transcribe", counted_transcribe)
    monkeypatch.setattr(asr, "_decode_windows", counted_decode)
    return counts


def test_batched_transcripts_equal_one_at_a_time(asr, clips, one_at_a_time, calls):
    assert one_at_a_time["sample"] == "What is the capital of France? Answer in one sentence."
    assert one_at_a_time["silence"] == ""  # dropped by faster-whisper's no-speech rule, which the batch reproduces
    names = list(clips)
    assert asr.transcribe_batch([clips[n] for n in names], batch_size=len(names)) == [one_at_a_time[n] for n in names]
    assert calls == {"transcribe": 0, "windows": len(names), "generate": 1}  # every clip in one CTranslate2 call


def test_batches_are_split_at_batch_size_and_keep_order(asr, clips, one_at_a_time, calls):
    names = list(clips)[::-1]
    assert asr.transcribe_batch([clips[n] for n in names], batch_size=3) == [one_at_a_time[n] for n in names]
    assert calls == {"transcribe": 0, "windows": len(names), "generate": -(-len(names) // 3)}


def test_empty_list(asr, calls):
    assert asr.transcribe_batch([]) == []
    assert calls == {"transcribe": 0, "windows": 0, "generate": 0}


def test_clips_over_30_s_fall_back_to_one_call_each(asr, clips, one_at_a_time, calls):
    long = np.concatenate([clips["sample"]] * 10)  # 33.7 s: two windows
    just_over = np.concatenate([clips["exactly 30 s"], clips["sample"][:SR // 100]])  # 30.01 s: a 2nd window of one hop
    expected_long, expected_just_over = asr(long), asr(just_over)
    assert expected_long.count("capital of France") >= 2  # text from both windows (tiny.en collapses the repeats)
    calls["transcribe"] = 0
    texts = asr.transcribe_batch([clips["sample"], long, clips["first second"], just_over])
    assert texts == [one_at_a_time["sample"], expected_long, one_at_a_time["first second"], expected_just_over]
    assert calls == {"transcribe": 2, "windows": 2, "generate": 1}


def test_a_clip_the_batch_cannot_decide_falls_back(asr, clips, one_at_a_time, monkeypatch):
    """Where the batched tokens hold a timestamp (`_decode_windows` gives None), `self(wave)` answers."""
    decode = asr._decode_windows
    monkeypatch.setattr(asr, "_decode_windows", lambda windows: [None, *decode(windows)[1:]])
    assert asr.transcribe_batch([clips["quiet"], clips["tail"]]) == [one_at_a_time["quiet"], one_at_a_time["tail"]]
