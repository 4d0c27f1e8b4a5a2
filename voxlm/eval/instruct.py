"""`instruct`: verifiable spoken instructions, scored by the IFEval checkers.

Reads SpeechInstructBench's closed-ended JSONL, one object per line:

    {"key": 17, "audio_path": "audio/17.wav", "prompt": "Write a haiku about rain. Do not use commas.",
     "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]}

`audio_path` is relative to the JSONL file; an optional `condition` groups the scores. Lines
whose instruction ids the checkers do not know (or whose kwargs they reject) are not scored:
they are counted and listed under `unsupported`, so one exotic id does not stop a run.

voxlm's own set (`build_instruct_set`) is written in the same format: each of the held-out
instructions below gets one or two constraints from `voxlm.data.constraints` and is spoken by
held-out voices in five conditions (each base prompt appears once in every condition, so
conditions compare like with like):

| condition         | voices          | what changes                                          |
|-------------------|-----------------|-------------------------------------------------------|
| `standard`        | STANDARD_VOICES | nothing                                               |
| `background`      | STANDARD_VOICES | music on hold or synthetic babble/pink noise, 5-15 dB SNR |
| `accent`          | ACCENT_VOICES   | strongly accented held-out voices                     |
| `paralinguistics` | STANDARD_VOICES | speaking rate x0.75-1.35 and pitch +-3 semitones      |
| `disfluency`      | STANDARD_VOICES | fillers, repetitions, self-repairs (~1 per 10 words) |

Scores per condition: IFEval's prompt- and instruction-level accuracy, strict and loose.
"""

from __future__ import annotations

import random
import re
import sys
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .. import ifeval
from ..data.constraints import sample_constraints
from ..files import write_jsonl_atomic
from ..tts import HELD_OUT_VOICES
from .baselines import Item, ItemSet
from .clips import build_clips
from .files import BenchmarkDataError, first_per_condition, read_jsonl, resolve_audio, unique_key

CONDITIONS = ("standard", "background", "accent", "paralinguistics", "disfluency")
METRICS = {  # name -> higher is better
    "prompt_level_strict_acc": True,
    "inst_level_strict_acc": True,
    "prompt_level_loose_acc": True,
    "inst_level_loose_acc": True,
}
MAX_NEW_TOKENS = 256  # room for "at least 80 words" or four bullet points
DEFAULT_SIZE = 300
FIELDS = ("key", "audio_path", "prompt", "instruction_id_list", "kwargs")

# Held-out voices split by how they sound: the accent condition uses only the second group.
STANDARD_VOICES = ("espeak:en-us-nyc", "kokoro:nezumi+kumo", "espeak:en-us-nyc+f4")
ACCENT_VOICES = (
    "flite:awb", "espeak:en-gb-scotland", "espeak:en-029", "espeak:en-gb-x-gbcwmd",
    "espeak:en-gb-scotland+f2", "espeak:en-029+m1", "espeak:en-gb-x-gbcwmd+m7",
)
if not set(STANDARD_VOICES + ACCENT_VOICES) <= set(HELD_OUT_VOICES):
    raise RuntimeError(f"benchmark voices must be held out: {sorted(set(STANDARD_VOICES + ACCENT_VOICES) - set(HELD_OUT_VOICES))}")

# Written for this benchmark and used by no training recipe: the held-out instruction source.
INSTRUCTIONS = (
    "Describe your ideal weekend.", "Explain how rain forms.", "Give some advice to someone starting their first job.",
    "Tell me about a hobby that helps people relax.", "Explain why the sky looks blue.",
    "Suggest a simple dinner for two people.", "Describe what a lighthouse keeper does.",
    "Explain how a bicycle stays upright.", "Write a short note thanking a neighbor for their help.",
    "Give tips for sleeping better.", "Describe the smell of a bakery in the morning.",
    "Explain what a budget is and why it helps.", "Tell a short story about a lost umbrella.",
    "Describe how to plant a tree.", "Explain the difference between weather and climate.",
    "Suggest ways to save water at home.", "Write a short welcome message for new library members.",
    "Explain how bees make honey.", "Describe a busy train station.", "Give advice for learning to play the guitar.",
    "Explain why we have seasons.", "Write a short review of an imaginary restaurant.",
    "Describe a walk through a snowy forest.", "Explain how a refrigerator keeps food cold.",
    "Suggest a few games to play on a rainy afternoon.", "Write a short invitation to a birthday picnic.",
    "Explain what a volcano is.", "Describe the job of a mail carrier.", "Give tips for packing a suitcase.",
    "Explain how to make a cup of tea.", "Describe your favorite kind of weather.",
    "Explain why exercise is good for the heart.", "Write a short apology for arriving late to a meeting.",
    "Describe a city at night.", "Explain how a compass works.", "Give advice to a student before an exam.",
    "Tell me about the phases of the moon.", "Describe the perfect sandwich.", "Explain how paper is recycled.",
    "Suggest a name for a new bakery and explain it.", "Write a short message to cheer up a friend.",
    "Explain what makes a good team leader.", "Describe a day at the beach.",
    "Explain how a plant grows from a seed.", "Give tips for speaking in public.",
    "Describe the sound of a thunderstorm.", "Explain why leaves change color in autumn.",
    "Write a short product description for a reusable water bottle.", "Explain how to change a flat tire.",
    "Describe an old clock tower.", "Give reasons to learn a second language.",
    "Explain what a library card lets you do.", "Write a short speech for a school sports day.",
    "Describe how bread is baked.", "Explain how airplanes stay in the air.",
    "Suggest a morning routine for a busy parent.", "Describe a quiet village in the mountains.",
    "Explain why people keep pets.", "Write a short note to a teacher at the end of the year.",
    "Explain how to stay safe while hiking.", "Describe a stall that sells fresh fruit.",
    "Explain what causes an echo.", "Give advice on caring for houseplants.",
    "Describe the first snowfall of winter.", "Explain how a library organizes its books.",
    "Write a short motivational message for runners.", "Describe a robot that helps in the kitchen.",
    "Explain why sea water is salty.", "Suggest ways to make a long car trip fun.", "Explain what a rainbow is.",
    "Describe a friendly dog you might meet in a park.", "Give tips for writing a clear email.",
    "Explain how a lock and key work.", "Describe a museum you would like to visit.",
    "Explain why sleep matters for memory.", "Write a short weather forecast for a sunny day.",
    "Explain how to fold a paper airplane.", "Describe a lively street festival.",
    "Give advice to someone moving to a new city.", "Explain what a calendar is used for.",
)
# Questions a fixed "My answer is yes/no/maybe." can answer: the only ones given constrained_response.
YES_NO_QUESTIONS = (
    "Is it a good idea to drink water every day?", "Should children learn to swim?",
    "Is reading before bed a good habit?", "Can a cat be a good pet for a small apartment?",
    "Is walking to work better than driving?", "Should people turn off the lights when they leave a room?",
    "Is it worth learning to cook at home?", "Can quiet background sounds help people focus?",
    "Is breakfast the most important meal of the day?", "Should every town have a public library?",
    "Is it helpful to make a list before shopping?", "Can plants grow without sunlight?",
)

# Constraint pairs no single answer can satisfy; a draw that contains one is drawn again.
_INCOMPATIBLE = {frozenset(pair) for pair in (
    ("change_case:english_lowercase", "change_case:english_capital"),
    ("change_case:english_lowercase", "startend:end_checker"),  # the end phrases are capitalised
    ("change_case:english_capital", "startend:end_checker"),
    ("change_case:english_lowercase", "detectable_content:postscript"),  # "P.S." is upper case
    ("startend:quotation", "startend:end_checker"),  # both claim the last characters
    ("detectable_content:postscript", "startend:end_checker"),
)}
# These fix the whole shape of the answer, so they come alone.
_ALONE = {"detectable_format:json_format", "detectable_format:constrained_response"}


# ---------------------------------------------------------------------------------------------
# Reading


def read_instruct(path: str | Path, limit: int | None = None) -> ItemSet:
    """SpeechInstructBench closed-ended JSONL -> items (the first `limit` per condition).

    Raises `BenchmarkDataError` (with the line number) on malformed lines and missing audio;
    lines with unknown instruction ids or kwargs the checkers reject become `notes["unsupported"]`.
    """
    path = Path(path)
    items, unsupported, seen = [], [], set()
    for number, record in read_jsonl(path, FIELDS, "a SpeechInstructBench closed-ended line"):
        key = unique_key(path, number, record["key"], seen)
        ids, kwargs, prompt = record["instruction_id_list"], record["kwargs"], record["prompt"]
        if not isinstance(prompt, str) or not prompt.strip():
            raise BenchmarkDataError(f"{path}:{number}: 'prompt' must be the written instruction (a non-empty string)")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise BenchmarkDataError(f"{path}:{number}: 'instruction_id_list' must be a non-empty list of ids")
        if not isinstance(kwargs, list) or len(kwargs) != len(ids) \
                or not all(k is None or isinstance(k, dict) for k in kwargs):
            raise BenchmarkDataError(f"{path}:{number}: 'kwargs' must be a list of {len(ids)} objects, "
                                     "one per instruction id (use {} for none)")
        audio = resolve_audio(path, number, record["audio_path"])
        reason = _unsupported_reason(ids, kwargs)
        if reason is not None:
            unsupported.append({"key": key, "line": number, "reason": reason,
                                "unknown_ids": [i for i in ids if i not in ifeval.CHECKERS]})
            continue
        items.append(Item(
            id=key, condition=str(record.get("condition") or "default"),
            content=[{"type": "audio", "audio": str(audio), "text": prompt}],
            max_new_tokens=MAX_NEW_TOKENS,
            meta={"instruction_id_list": ids, "kwargs": [k or {} for k in kwargs], "prompt": prompt},
        ))
    notes = {}
    if unsupported:
        counts: dict[str, int] = {}
        for u in unsupported:
            for i in u["unknown_ids"]:
                counts[i] = counts.get(i, 0) + 1
        notes["unsupported"] = {"items": len(unsupported), "unknown_instruction_ids": counts, "lines": unsupported}
        print(f"warning: {path}: {len(unsupported)} item(s) not scored (unsupported instructions): "
              + "; ".join(f"line {u['line']}: {u['reason']}" for u in unsupported[:5])
              + (" ..." if len(unsupported) > 5 else ""), file=sys.stderr)
    if not items:
        raise BenchmarkDataError(f"{path}: no item can be scored ({len(unsupported)} unsupported)")
    return ItemSet(first_per_condition(items, limit), str(path), notes)


def _unsupported_reason(ids: list[str], kwargs: list[dict | None]) -> str | None:
    unknown = [i for i in ids if i not in ifeval.CHECKERS]
    if unknown:
        return f"unknown instruction id(s) {unknown}"
    for instruction_id, kw in zip(ids, kwargs):
        try:
            ifeval.describe(instruction_id, kw)  # validates the kwargs without needing a response
        except (ValueError, TypeError) as error:
            return f"{instruction_id}: {error}"
    return None


# ---------------------------------------------------------------------------------------------
# Scoring


def score(items: Sequence[Item], responses: dict[str, dict[str, str]]) -> dict[str, dict[str, float]]:
    """IFEval's four accuracies per system over `items` (`responses[system][item.id]`)."""
    out = {}
    for system, answers in responses.items():
        results = [ifeval.evaluate_item(answers[item.id], item.meta["instruction_id_list"], item.meta["kwargs"],
                                        item.meta["prompt"]) for item in items]
        scores = ifeval.aggregate(results)
        out[system] = {metric: scores[metric] for metric in METRICS}
    return out


# ---------------------------------------------------------------------------------------------
# Building voxlm's own set


def _draw_constraints(rng: random.Random, instruction: str) -> list[tuple[str, dict, str]]:
    """One or two compatible constraints that make sense for `instruction`."""
    yes_no = instruction in YES_NO_QUESTIONS
    words = set(re.findall(r"[a-z]+", instruction.lower()))
    while True:
        drawn = sample_constraints(rng, rng.choice([1, 2]))
        ids = {c[0] for c in drawn}
        if "detectable_format:constrained_response" in ids and not yes_no:
            continue
        if len(drawn) > 1 and (ids & _ALONE or frozenset(ids) in _INCOMPATIBLE):
            continue
        # "Do not use the word garden" after "Describe a garden" (or "Include garden") is a trick question.
        forbidden = {w for i, kw, _ in drawn if i == "keywords:forbidden_words" for w in kw["forbidden_words"]}
        required = {w for i, kw, _ in drawn if i == "keywords:existence" for w in kw["keywords"]}
        if forbidden & (words | required):
            continue
        return drawn


def plan_instruct_set(n: int = DEFAULT_SIZE, seed: int = 0) -> list[dict]:
    """The records of the built set, before any audio exists (pure: same (n, seed), same plan).

    Base prompts (an instruction plus its constraints) are drawn from `INSTRUCTIONS` and
    `YES_NO_QUESTIONS` in a seeded order; each base prompt yields one item per condition, in
    `CONDITIONS` order, until `n` items exist.
    """
    from ..audio.augment import Augmentation, inject_disfluencies, music_noise_files

    if n < 1:
        raise ValueError(f"the instruct set needs at least one item, got n={n}")
    rng = random.Random(seed)
    pool = list(INSTRUCTIONS + YES_NO_QUESTIONS)
    rng.shuffle(pool)
    music = [str(p) for p in music_noise_files()]
    records = []
    for base in range(-(-n // len(CONDITIONS))):
        instruction = pool[base % len(pool)]
        constraints = _draw_constraints(rng, instruction)
        prompt = " ".join([instruction] + [sentence for _, _, sentence in constraints])
        for c, condition in enumerate(CONDITIONS):
            if len(records) == n:
                break
            voices = ACCENT_VOICES if condition == "accent" else STANDARD_VOICES
            spoken, augmentation = prompt, None
            aug_seed = rng.randrange(2**31)
            if condition == "background":
                kind = rng.choice(["music", "babble", "pink"])
                noise_file = music[rng.randrange(len(music))] if kind == "music" and music else None
                augmentation = Augmentation(noise="babble" if kind == "music" and not music else kind,
                                            snr_db=round(rng.uniform(5.0, 15.0), 1), noise_file=noise_file)
            elif condition == "paralinguistics":
                augmentation = Augmentation(rate=round(rng.uniform(0.75, 1.35), 3),
                                            pitch_semitones=round(rng.uniform(-3.0, 3.0), 2))
            elif condition == "disfluency":
                disfluent = np.random.default_rng(aug_seed)
                while spoken == prompt:  # a short prompt can come through clean: an item must have a disfluency
                    spoken = inject_disfluencies(prompt, disfluent, rate=0.1)
            records.append({
                "key": f"voxlm-instruct-{base:04d}-{condition}",
                "prompt": prompt,
                "instruction_id_list": [i for i, _, _ in constraints],
                "kwargs": [kw for _, kw, _ in constraints],
                "condition": condition,
                "voice": voices[(base + c) % len(voices)],
                "spoken_text": spoken,
                "augmentation": augmentation.to_dict() if augmentation else None,
                "augmentation_seed": aug_seed,
            })
    return records


def build_instruct_set(out_dir: str | Path, n: int = DEFAULT_SIZE, seed: int = 0, limit: int | None = None,
                       speak: Callable[[str, str], np.ndarray] | None = None, progress: bool = False) -> Path:
    """Write voxlm's spoken-instruction set to `out_dir/instruct.jsonl` (+ `audio/`); returns the JSONL.

    The format is SpeechInstructBench's plus `condition`, `voice`, `spoken_text` and the
    augmentation applied, so `read_instruct` (and any SpeechInstructBench tooling) reads it.
    With `limit`, only the first `limit` items of each condition are synthesized and listed.
    Clips already on disk are reused. `speak(text, voice) -> 16 kHz wave` defaults to voxlm's TTS.
    """
    out_dir = Path(out_dir)
    records = first_per_condition(plan_instruct_set(n, seed), limit, condition=lambda r: r["condition"])
    build_clips(records, out_dir, speak, progress, "instruct audio")
    path = out_dir / "instruct.jsonl"
    fields = FIELDS + ("condition", "voice", "spoken_text", "augmentation", "augmentation_seed")
    write_jsonl_atomic(path, ({k: r[k] for k in fields} for r in records))
    return path
