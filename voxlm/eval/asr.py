"""`asr`: word error rate on real human speech and on held-out synthetic voices.

Conditions:
- `human`: the Asterisk core prompts, real recordings of one female speaker (Debian
  `asterisk-core-sounds-en-g722`: 16 kHz G.722, decoded once with ffmpeg and cached as wav) with
  their transcripts (Debian `asterisk-core-sounds-en`, `name: text` lines). Prompts shorter than
  `MIN_WORDS` words (digits, letters, single words) and sound effects (`[beep]`) are left out.
- `synthetic`: sentences of the generalize passages spoken by the held-out voices.

VoxLM is asked with a transcribe wording from the task bank; WER is computed after Whisper's
English normalisation. The `whisper` system is the cascade's ASR output on its own; `connector` is
VoxLM's own CTC transcript (`voxlm transcribe`), what it hears before the LLM answers (with
`lm_fusion_weight`, the LLM has helped pick its tokens).
A user's own set: JSONL of `{"key", "audio_path", "text"}` (+ optional `condition`).
"""

from __future__ import annotations

import gzip
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..audio.io import SAMPLING_RATE
from ..data.tasks import TASKS
from ..files import write_atomic, write_jsonl_atomic
from ..tts import HELD_OUT_VOICES, split_sentences
from .baselines import Item, ItemSet
from .clips import build_clips
from .files import BenchmarkDataError, first_per_condition, read_jsonl, resolve_audio, unique_key
from .generalize import PASSAGES
from .metrics import corpus_wer, word_accuracy

CONDITIONS = ("human", "synthetic")
METRICS = {"wer": False, "word_accuracy": True}
SYSTEMS = ("text", "cascade", "speech", "whisper", "connector")
PROMPT = TASKS["transcribe"].prompts[0]  # "Transcribe the following." (a training wording: ASR, not wording, is tested)
MIN_WORDS = 3
SYNTHETIC_SIZE = 100
FIELDS = ("key", "audio_path", "text")

ASTERISK_SOUNDS = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
ASTERISK_TRANSCRIPTS = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
ASTERISK_PACKAGES = "asterisk-core-sounds-en-g722 asterisk-core-sounds-en"


def parse_asterisk_transcripts(text: str) -> dict[str, str]:
    """`name: text` lines -> {name: spoken text}; comments and sound effects dropped.

    Bracketed notes are not spoken ("dot [.]" -> "dot"); the keypad symbols are read aloud as
    "star" and "pound".
    """
    out = {}
    for line in text.splitlines():
        if line.startswith(";") or ":" not in line:
            continue
        name, spoken = line.split(":", 1)
        spoken = re.sub(r"\[[^\]]*\]", " ", spoken).replace("*", " star ").replace("#", " pound ")
        spoken = " ".join(spoken.split())
        if spoken:
            out[name.strip()] = spoken
    return out


def decode_g722(source: Path, target: Path) -> Path:
    """A raw G.722 file -> 16 kHz mono wav at `target` (made once; atomic)."""
    if not target.is_file():
        if shutil.which("ffmpeg") is None:
            raise BenchmarkDataError("decoding the Asterisk prompts needs ffmpeg: run `apt-get install ffmpeg`")

        def run(tmp: Path) -> None:
            proc = subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "g722", "-i", str(source), "-ar", str(SAMPLING_RATE),
                                   "-ac", "1", "-f", "wav", str(tmp)], capture_output=True, text=True)
            if proc.returncode != 0:
                raise BenchmarkDataError(f"{source}: ffmpeg could not decode it as G.722: {proc.stderr.strip()}")

        write_atomic(target, run)
    return target


def asterisk_records(out_dir: Path, seed: int = 0, limit: int | None = None, min_words: int = MIN_WORDS,
                     sounds: Path | None = None, transcripts: Path | None = None) -> list[dict]:
    """The `human` records (decoding only the clips needed); raises when the Debian packages are absent."""
    sounds, transcripts = sounds or ASTERISK_SOUNDS, transcripts or ASTERISK_TRANSCRIPTS
    if not transcripts.is_file() or not sounds.is_dir():
        raise BenchmarkDataError(f"the human-speech condition needs the Asterisk prompts: run "
                                 f"`apt-get install {ASTERISK_PACKAGES}`")
    texts = parse_asterisk_transcripts(gzip.open(transcripts, "rt", encoding="utf-8", errors="replace").read())
    names = sorted(n for n, t in texts.items() if len(t.split()) >= min_words and (sounds / f"{n}.g722").is_file())
    random.Random(seed).shuffle(names)  # a seeded sample, not the alphabetically first prompts
    records = []
    for name in names[:limit]:
        wav = decode_g722(sounds / f"{name}.g722", out_dir / "asterisk" / f"{name.replace('/', '__')}.wav")
        records.append({"key": f"asterisk-{name}", "audio_path": str(wav.relative_to(out_dir)), "text": texts[name],
                        "condition": "human", "voice": "asterisk:allison"})
    return records


def plan_synthetic(size: int = SYNTHETIC_SIZE, seed: int = 0) -> list[dict]:
    """`size` passage sentences in a seeded order, each with a held-out voice (taking turns)."""
    sentences = [s for p in PASSAGES for s in split_sentences(p)]
    random.Random(seed).shuffle(sentences)
    return [{"key": f"synthetic-{i:04d}", "text": s, "spoken_text": s, "condition": "synthetic",
             "voice": HELD_OUT_VOICES[i % len(HELD_OUT_VOICES)]}
            for i, s in enumerate((sentences * (size // max(len(sentences), 1) + 1))[:size])]


def build_asr_set(out_dir: str | Path, seed: int = 0, limit: int | None = None, synthetic_size: int = SYNTHETIC_SIZE,
                  speak: Callable[[str, str], np.ndarray] | None = None, progress: bool = False) -> tuple[Path, dict]:
    """Write `out_dir/asr.jsonl` (+ audio); returns (path, notes). A missing Asterisk install skips
    the human condition with a warning (recorded in notes) rather than failing the whole run."""
    out_dir = Path(out_dir)
    notes = {}
    try:
        human = asterisk_records(out_dir, seed, limit)
    except BenchmarkDataError as error:
        print(f"warning: asr: skipping the human condition: {error}", file=sys.stderr)
        human, notes["skipped"] = [], {"human": str(error)}
    synthetic = plan_synthetic(synthetic_size, seed)[:limit]
    build_clips(synthetic, out_dir, speak, progress, "asr audio")
    path = out_dir / "asr.jsonl"
    write_jsonl_atomic(path, ({k: r[k] for k in FIELDS + ("condition", "voice")} for r in human + synthetic))
    return path, notes


def read_asr(path: str | Path, limit: int | None = None) -> ItemSet:
    """ASR JSONL (`key`, `audio_path` relative to the file, `text`, optional `condition` and `voice`) -> items."""
    path = Path(path)
    items, seen = [], set()
    for number, r in read_jsonl(path, FIELDS, "an ASR line"):
        if not isinstance(r["text"], str) or not r["text"].strip():
            raise BenchmarkDataError(f"{path}:{number}: 'text' (the reference transcript) must be a non-empty string")
        words = len(r["text"].split())
        items.append(Item(
            id=unique_key(path, number, r["key"], seen), condition=str(r.get("condition") or "default"),
            content=[{"type": "text", "text": PROMPT},
                     {"type": "audio", "audio": str(resolve_audio(path, number, r["audio_path"])), "text": r["text"]}],
            max_new_tokens=max(48, 2 * words + 16),  # ~1.3 tokens a word, plus slack for the LLM's framing
            meta={"reference": r["text"], "voice": r.get("voice")},
        ))
    return ItemSet(first_per_condition(items, limit), str(path))


def score(items: Sequence[Item], responses: dict[str, dict[str, str]]) -> dict[str, dict[str, float | None]]:
    """Corpus WER (and word accuracy) per system against the reference transcripts."""
    out = {}
    for system, answers in responses.items():
        wer = corpus_wer([i.meta["reference"] for i in items], [answers[i.id] for i in items])
        out[system] = {"wer": wer, "word_accuracy": word_accuracy(wer)}
    return out
