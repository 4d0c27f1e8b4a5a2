"""Specification of `voxlm recordings` (voxlm.data.recordings): a user's own clips + transcripts -> a speech dataset
that `voxlm features` and the alignment recipes read as they read `voxlm synth` output.

The clips are tiny wav/flac files written with soundfile (tones and noise), a stereo 44.1 kHz one among them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import voxlm.data.recordings as recordings
from voxlm.audio.augment import Augmentation
from voxlm.cli import main
from voxlm.data.features import AudioStore, FeatureStore, compute_features
from voxlm.data.recordings import MAX_SECONDS, RecordingsError, import_recordings, read_recordings
from voxlm.data.shards import MANIFEST, audio_features
from voxlm.data.synth import SynthSettings, augmentation_of, build_manifest
from voxlm.data.train_data import build_alignment_data, check_no_held_out_voices
from voxlm.data.transcripts import TranscriptCollator, read_transcribed_clips
from voxlm.model.processing_voxlm import WINDOW_SECONDS, encoder_frames
from voxlm.train.objectives import alignment_ctc_loss

SR = 16_000


def write_wav(path: Path, seconds: float = 0.5, sr: int = SR, channels: int = 1, freq: float = 440.0,
              fmt: str | None = None) -> Path:
    """A tone with a little noise; every channel carries the same tone."""
    t = np.arange(int(round(seconds * sr))) / sr
    wave = 0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * np.random.default_rng(int(freq)).standard_normal(t.size)
    data = np.stack([wave] * channels, axis=1) if channels > 1 else wave
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), data.astype(np.float32), sr, format=fmt)
    return path


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def run(list_path, out, **kwargs) -> dict:
    return import_recordings(list_path, out, progress=False, log=lambda message: None, **kwargs)


def peak_hz(wave: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(wave))
    return float(np.fft.rfftfreq(wave.size, 1 / SR)[spectrum.argmax()])


@pytest.fixture
def clips(tmp_path):
    """Three clips beside `list.jsonl`: a.wav (16 kHz mono 0.5 s), b.wav (44.1 kHz stereo 0.8 s), sub/c.flac (8 kHz)."""
    write_wav(tmp_path / "a.wav", 0.5, freq=440)
    write_wav(tmp_path / "b.wav", 0.8, sr=44_100, channels=2, freq=1000)
    write_wav(tmp_path / "sub" / "c.flac", 0.25, sr=8_000, freq=300)
    return tmp_path


# ---- the input forms -----------------------------------------------------------------------------


def test_a_jsonl_list_becomes_the_dataset_synth_writes(clips):
    listed = write_jsonl(clips / "list.jsonl", [
        {"audio": "a.wav", "text": "hello world", "id": "rec-a"},
        {"audio": "b.wav", "text": "  the quick\nbrown fox ", "speaker": "ann"},
        {"audio": "./sub/c.flac", "text": "what is said"},
    ])
    manifest = run(listed, clips / "out")
    assert manifest["complete"] and manifest["clips"] == 3 and manifest["skipped"] == 0
    assert manifest["kind"] == "recordings" and manifest["sampling_rate"] == SR
    assert manifest["voices"] == {"recorded": 2, "recorded:ann": 1}
    # The manifest has every key of a synth manifest (the readers need no second kind of folder) ...
    empty = build_manifest(clips / "none", Path("r.jsonl"), 0, 1, SynthSettings(), {})
    assert set(empty) - {"synthesis_seconds"} <= set(manifest)
    # ... and the shards the same columns, in the same order.
    assert manifest["columns"] == list(audio_features()) == empty["columns"]
    store = AudioStore(clips / "out")
    assert store.ids() == ["rec-a", "b", "sub/c"]
    wave, text, voice = store["rec-a"]
    assert wave.dtype == np.float32 and wave.size == 8000 and text == "hello world" and voice == "recorded"
    row = store.record("b")
    assert row["text"] == "the quick brown fox" and row["source_text"] == "the quick\nbrown fox"
    assert row["voice"] == "recorded:ann" and row["sampling_rate"] == SR
    assert augmentation_of(row["augmentation"]) == (Augmentation(), 0)
    # 44.1 kHz stereo -> 16 kHz mono: the length scales, the tone stays at its pitch.
    assert abs(row["audio"].size - 0.8 * SR) <= 1 and row["seconds"] == pytest.approx(0.8, abs=1e-4)
    assert abs(peak_hz(row["audio"]) - 1000) < 5
    assert abs(peak_hz(store["sub/c"][0]) - 300) < 10 and store["sub/c"][0].size == 4000
    check_no_held_out_voices([str(clips / "out")])  # recordings are no evaluation voice


def test_a_csv_list_with_a_header_quotes_and_a_byte_order_mark(clips):
    (clips / "list.csv").write_text('\ufeffid,audio,text,speaker\n'
                                    'one,a.wav,"hello, world",bob\n'
                                    ',b.wav,the lazy dog,\n', encoding="utf-8")
    run(clips / "list.csv", clips / "out")
    store = AudioStore(clips / "out")
    assert store.ids() == ["one", "b"]
    assert store["one"][1:] == ("hello, world", "recorded:bob") and store["b"][1:] == ("the lazy dog", "recorded")


def test_a_folder_with_transcripts_tsv_names_its_clips_with_or_without_suffix(clips):
    (clips / "transcripts.tsv").write_text("# name<TAB>transcript\n\na\thello world\nsub/c.flac\twhat is said\n",
                                           encoding="utf-8")
    manifest = run(clips, clips / "out")
    assert manifest["clips"] == 2  # b.wav is not listed, so it is not imported
    store = AudioStore(clips / "out")
    assert store.transcripts() == {"a": "hello world", "sub/c": "what is said"}


def test_a_folder_without_a_list_pairs_each_audio_file_with_the_txt_beside_it(clips):
    (clips / "a.txt").write_text("hello world\n")
    (clips / "b.txt").write_text("the quick\nbrown fox\n")
    (clips / "sub" / "c.txt").write_text("what is said")
    run(clips, clips / "out")
    assert AudioStore(clips / "out").transcripts() == {"a": "hello world", "b": "the quick brown fox",
                                                        "sub/c": "what is said"}


def test_relative_audio_paths_are_relative_to_the_list_not_the_working_folder(clips, tmp_path, monkeypatch):
    lists = tmp_path / "lists"
    lists.mkdir()
    write_jsonl(lists / "list.jsonl", [{"audio": "../a.wav", "text": "hello"},
                                       {"audio": str(clips / "b.wav"), "text": "absolute", "id": "b"}])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    run(lists / "list.jsonl", tmp_path / "out")
    assert AudioStore(tmp_path / "out").transcripts() == {"../a": "hello", "b": "absolute"}


def test_the_default_length_limit_is_one_encoder_window():
    assert MAX_SECONDS == WINDOW_SECONDS


# ---- bad input -----------------------------------------------------------------------------------


LIST_PROBLEMS = {
    "missing audio": ([{"audio": "a.wav", "text": "ok"}, {"audio": "nope.wav", "text": "x"}],
                      r"list.jsonl:2: audio file .*nope.wav not found"),
    "malformed line": ([{"audio": "a.wav", "text": "ok"}, '{"audio": "b.wav", "text": '],
                       r"list.jsonl:2: not valid JSON"),
    "not an object": ([["a.wav", "text"]], r"list.jsonl:1: a line must be a JSON object"),
    "empty transcript": ([{"audio": "a.wav", "text": "  "}], r"list.jsonl:1: empty transcript"),
    "no transcript": ([{"audio": "a.wav"}], r"list.jsonl:1: \"text\" \(the transcript\) must be a string"),
    "unknown key": ([{"audio": "a.wav", "transcript": "hi"}], r"list.jsonl:1: unknown keys \['transcript'\]"),
    "duplicate id": ([{"audio": "a.wav", "text": "x", "id": "k"}, {"audio": "b.wav", "text": "y"},
                      {"audio": "sub/c.flac", "text": "z", "id": "k"}],
                     r"list.jsonl:3: duplicate id 'k' \(first at .*list.jsonl:1\)"),
    "duplicate file": ([{"audio": "a.wav", "text": "x"}, {"audio": "./a.wav", "text": "y"}],
                       r"list.jsonl:2: duplicate id 'a'"),
    "audio is a folder": ([{"audio": "sub", "text": "x"}], r"list.jsonl:1: audio 'sub' is a folder"),
}


@pytest.mark.parametrize("case", list(LIST_PROBLEMS))
def test_a_mistake_in_a_jsonl_list_names_the_line_and_writes_nothing(clips, case):
    rows, message = LIST_PROBLEMS[case]
    listed = write_jsonl(clips / "list.jsonl", rows)
    with pytest.raises(RecordingsError, match=message):
        run(listed, clips / "out")
    assert not (clips / "out").exists()


def test_every_problem_of_a_list_is_reported_at_once(clips):
    listed = write_jsonl(clips / "list.jsonl", [{"audio": "x.wav", "text": "a"}, {"audio": "a.wav", "text": ""},
                                                "oops", {"audio": "b.wav", "text": "fine"}])
    with pytest.raises(RecordingsError) as error:
        read_recordings(listed)
    message = str(error.value)
    assert message.startswith(f"3 problem(s) in the list {listed}; nothing was imported")
    # In the list's order, whether a line does not parse (3) or does not hold up (1, 2).
    assert [line.split(":")[1] for line in message.splitlines()[1:]] == ["1", "2", "3"]
    assert "list.jsonl:4" not in message


@pytest.mark.parametrize("text, message", [
    ("audio,text\na.wav,hello,world\n", r"list.csv:2: 3 fields, the header has 2 .*quote a transcript"),
    ("file,text\na.wav,hello\n", r"list.csv:1: the header must name the columns audio and text"),
    ("audio,text,notes\na.wav,hello,x\n", r"list.csv:1: the header must name"),
    ("", r"list.csv: empty"),
    ("audio,text\na.wav,\n", r"list.csv:2: empty transcript"),
    ("audio,text\nmissing.wav,hi\n", r"list.csv:2: audio file .*missing.wav not found"),
])
def test_a_mistake_in_a_csv_list_names_the_line(clips, text, message):
    (clips / "list.csv").write_text(text)
    with pytest.raises(RecordingsError, match=message):
        read_recordings(clips / "list.csv")


def test_mistakes_in_tsv_and_folder_lists_name_the_file(clips):
    (clips / "list.tsv").write_text("a.wav\thello\nb.wav hello\n")
    with pytest.raises(RecordingsError, match=r"list.tsv:2: expected audio<TAB>transcript"):
        read_recordings(clips / "list.tsv")
    (clips / "a.txt").write_text("hello")
    with pytest.raises(RecordingsError, match=r"b.wav: no transcript: expected it in .*b.txt"):
        read_recordings(clips)
    write_wav(clips / "sub" / "c.wav")  # beside c.flac: the name alone no longer says which
    (clips / "transcripts.tsv").write_text("sub/c\twhat\n")
    with pytest.raises(RecordingsError, match=r"transcripts.tsv:1: audio 'sub/c' is ambiguous: c.wav, c.flac"):
        read_recordings(clips)
    with pytest.raises(RecordingsError, match=r"no transcripts.tsv and no audio files"):
        read_recordings(_empty(clips))
    with pytest.raises(RecordingsError, match=r"a list is a .jsonl, .csv or .tsv file"):
        read_recordings(clips / "a.txt")
    with pytest.raises(FileNotFoundError, match="no such list"):
        read_recordings(clips / "nothing.jsonl")


def _empty(root: Path) -> Path:
    folder = root / "empty"
    folder.mkdir()
    return folder


def test_unusable_audio_is_skipped_counted_and_listed_while_the_rest_is_imported(clips, capsys):
    (clips / "corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(256)) * 4)
    (clips / "empty.wav").write_bytes(b"")
    write_wav(clips / "long.wav", 31.0, sr=8_000)
    write_wav(clips / "window.wav", 30.0, sr=8_000)  # exactly one window: kept
    listed = write_jsonl(clips / "list.jsonl", [
        {"audio": "a.wav", "text": "fine"}, {"audio": "corrupt.wav", "text": "broken"},
        {"audio": "long.wav", "text": "too long"}, {"audio": "empty.wav", "text": "nothing"},
        {"audio": "window.wav", "text": "just fits"}])
    assert main(["recordings", str(listed), "--out", str(clips / "out"), "--quiet"]) == 0
    printed = capsys.readouterr().out
    manifest = json.loads((clips / "out" / MANIFEST).read_text())
    assert manifest["clips"] == 2 and manifest["complete"]
    assert manifest["skipped"] == 3 and manifest["skipped_by_reason"] == {"too_long": 1, "unreadable": 2}
    where = {item["id"]: (item["where"], item["reason"]) for item in manifest["skipped_items"]}
    assert where == {"corrupt": (f"{listed}:2", "unreadable"), "long": (f"{listed}:3", "too_long"),
                     "empty": (f"{listed}:4", "unreadable")}
    assert all(item["audio"] in item["detail"] for item in manifest["skipped_items"])
    assert "skipped 3: {'too_long': 1, 'unreadable': 2}" in printed and f"{listed}:3: too_long" in printed
    assert "next: voxlm features" in printed
    assert AudioStore(clips / "out").ids() == ["a", "window"]
    # With no limit the long clip is kept (e.g. for a stage that windows long audio).
    assert run(listed, clips / "all", max_seconds=None)["skipped_by_reason"] == {"unreadable": 2}


def test_the_cli_shows_a_list_mistake_as_one_error_naming_the_line(clips, capsys):
    listed = write_jsonl(clips / "list.jsonl", [{"audio": "a.wav", "text": "ok"}, {"audio": "gone.wav", "text": "x"}])
    assert main(["recordings", str(listed), "--out", str(clips / "out")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("voxlm recordings: error: 1 problem(s)") and f"{listed}:2: audio file" in error


def test_a_synth_folder_is_not_written_into(clips):
    (clips / "speech").mkdir()
    (clips / "speech" / MANIFEST).write_text(json.dumps({"format": 1, "shards": 1}))
    listed = write_jsonl(clips / "list.jsonl", [{"audio": "a.wav", "text": "ok"}])
    with pytest.raises(RecordingsError, match="holds a `voxlm synth` dataset"):
        run(listed, clips / "speech")


# ---- resuming ------------------------------------------------------------------------------------


def five_clips(root: Path) -> Path:
    for i in range(5):
        write_wav(root / f"r{i}.wav", 0.2 + 0.05 * i, freq=200 + 100 * i)
    return write_jsonl(root / "list.jsonl", [{"audio": f"r{i}.wav", "text": f"clip {i}"} for i in range(5)])


def counting_loader(monkeypatch, fail_at: int | None = None) -> list:
    """Count `load_audio` calls; the `fail_at`-th raises KeyboardInterrupt, as a kill mid-shard would stop the run."""
    calls = []
    real = recordings.load_audio

    def load(path, **kwargs):
        calls.append(Path(path).name)
        if fail_at is not None and len(calls) == fail_at:
            raise KeyboardInterrupt
        return real(path, **kwargs)

    monkeypatch.setattr(recordings, "load_audio", load)
    return calls


def test_a_killed_run_resumes_shard_by_shard(tmp_path, monkeypatch):
    listed = five_clips(tmp_path)  # shards of 2: r0-r1, r2-r3, r4
    whole = run(listed, tmp_path / "whole", shard_size=2)
    out = tmp_path / "out"
    counting_loader(monkeypatch, fail_at=4)  # in shard 1, after shard 0 was written
    with pytest.raises(KeyboardInterrupt):
        run(listed, out, shard_size=2)
    assert (out / "shard-00000" / "shard.json").is_file() and not (out / "shard-00001").exists()
    assert not (out / MANIFEST).exists()
    (out / ".shard-00001.tmp-host-1").mkdir()  # what a kill during a write leaves
    calls = counting_loader(monkeypatch)
    manifest = run(listed, out, shard_size=2)
    assert calls == ["r2.wav", "r3.wav", "r4.wav"]  # shard 0 is reused, not loaded again
    assert manifest["last_run"]["shards_reused"] == [0] and manifest["last_run"]["shards_built"] == [1, 2]
    assert not list(out.glob(".shard-*")) and manifest["complete"] and manifest["clips"] == whole["clips"] == 5
    a, b = AudioStore(tmp_path / "whole"), AudioStore(out)
    assert a.ids() == b.ids() and all(np.array_equal(a[i][0], b[i][0]) for i in a.ids())
    # Finished: a rerun loads nothing; a replaced audio file rebuilds its shard alone.
    calls.clear()
    assert run(listed, out, shard_size=2)["last_run"]["shards_reused"] == [0, 1, 2] and calls == []
    write_wav(tmp_path / "r3.wav", 0.6, freq=900)
    manifest = run(listed, out, shard_size=2)
    assert calls == ["r2.wav", "r3.wav"] and manifest["last_run"]["shards_rebuilt"] == [{"shard": 1, "why": "stale"}]
    assert AudioStore(out)["r3"][0].size == int(0.6 * SR)


def test_a_shorter_list_leaves_no_clip_of_the_old_one_behind(tmp_path):
    listed = five_clips(tmp_path)
    run(listed, tmp_path / "out", shard_size=2)
    lines = listed.read_text().splitlines()
    listed.write_text("\n".join(lines[:2]) + "\n")
    manifest = run(listed, tmp_path / "out", shard_size=2)
    assert manifest["last_run"]["shards_removed"] == [1, 2] and AudioStore(tmp_path / "out").ids() == ["r0", "r1"]


# ---- what reads it -------------------------------------------------------------------------------


SENTENCES = ["hello world", "the quick brown fox", "what is said", "the lazy dog"]


@pytest.fixture
def tiny_encoder():
    from transformers import WhisperConfig, WhisperFeatureExtractor
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    torch.manual_seed(0)
    config = WhisperConfig(d_model=16, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=32, num_mel_bins=80)
    return WhisperEncoder(config).eval(), WhisperFeatureExtractor(feature_size=80)


def test_features_and_the_alignment_data_read_the_dataset(tmp_path, tiny_encoder, make_tiny):
    for i in range(4):
        write_wav(tmp_path / "rec" / f"{i}.wav", 0.6 + 0.2 * i, sr=22_050 if i % 2 else SR, freq=300 + 150 * i)
        (tmp_path / "rec" / f"{i}.txt").write_text(SENTENCES[i])
    out = tmp_path / "mine"
    run(tmp_path / "rec", out, shard_size=3)
    encoder, extractor = tiny_encoder
    record = compute_features(out, "tiny-random", encoder=encoder, feature_extractor=extractor, progress=False,
                              log=lambda m: None)
    assert record["complete"] and record["clips"] == 4 and record["shards"] == 2
    frames, audio = FeatureStore(out), AudioStore(out)
    assert all(frames[i].shape == (encoder_frames(audio[i][0].size), 16) for i in audio.ids())
    assert read_transcribed_clips([out]) == {str(i): s for i, s in enumerate(SENTENCES)}

    model, processor = make_tiny()
    train_set, eval_set, collate = build_alignment_data([str(out)], [], [str(out)], processor.tokenizer,
                                                        model.blank_token_id, "tiny-random")
    assert len(train_set) == 4 and eval_set is None and isinstance(collate, TranscriptCollator)
    batch = collate([train_set[i] for i in range(4)])
    logits = model(**batch).logits
    loss = alignment_ctc_loss(logits, batch["audio_lengths"], model.config.stack_factor, batch["ctc_labels"],
                              batch["ctc_vocab"])
    assert torch.isfinite(loss) and loss > 0


def test_the_verb_is_on_the_command_line(clips, capsys):
    with pytest.raises(SystemExit):
        main(["recordings", "--help"])
    assert "transcripts.tsv" in capsys.readouterr().out
    shutil.rmtree(clips / "sub")
    listed = write_jsonl(clips / "list.jsonl", [{"audio": "a.wav", "text": "hello"}])
    assert main(["recordings", str(listed), "--out", str(clips / "out"), "--quiet", "--shard-size", "1",
                 "--max-seconds", "0"]) == 0
    assert json.loads((clips / "out" / MANIFEST).read_text())["settings"] == {"max_seconds": None}
