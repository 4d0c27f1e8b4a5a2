"""Verifiable constraints (IFEval vocabulary) to append to spoken instructions.

The same sampler feeds the speech-instruct training data and the `instruct` benchmark; what keeps
the benchmark held out is its instructions (a disjoint corpus split) and its voices, not the
constraint types, which are exactly the skill being measured.
"""

from __future__ import annotations

import random

from ..eval.checkers import describe

_KEYWORDS = ("music", "river", "future", "garden", "history", "energy", "market", "ocean", "science", "travel")


def _kwargs(instruction_id: str, rng: random.Random) -> dict:
    relation = rng.choice(["less than", "at least"])
    return {
        "length_constraints:number_words": lambda: {"relation": relation, "num_words": rng.choice([20, 30, 50, 80])},
        "length_constraints:number_sentences": lambda: {"relation": relation, "num_sentences": rng.choice([2, 3, 4])},
        "length_constraints:number_paragraphs": lambda: {"num_paragraphs": rng.choice([2, 3])},
        "punctuation:no_comma": dict,
        "change_case:english_lowercase": dict,
        "change_case:english_capital": dict,
        "detectable_format:number_bullet_lists": lambda: {"num_bullets": rng.choice([2, 3, 4])},
        "detectable_format:title": dict,
        "detectable_format:json_format": dict,
        "startend:end_checker": lambda: {"end_phrase": rng.choice(["Is there anything else I can help with?",
                                                                   "That is all.", "Thank you for listening."])},
        "startend:quotation": dict,
        "detectable_content:postscript": lambda: {"postscript_marker": rng.choice(["P.S.", "P.P.S"])},
        "keywords:existence": lambda: {"keywords": rng.sample(_KEYWORDS, 2)},
        "keywords:forbidden_words": lambda: {"forbidden_words": rng.sample(_KEYWORDS, 2)},
        "detectable_format:constrained_response": dict,
    }[instruction_id]()


CONSTRAINT_IDS = (
    "length_constraints:number_words", "length_constraints:number_sentences", "length_constraints:number_paragraphs",
    "punctuation:no_comma", "change_case:english_lowercase", "change_case:english_capital",
    "detectable_format:number_bullet_lists", "detectable_format:title", "detectable_format:json_format",
    "startend:end_checker", "startend:quotation", "detectable_content:postscript", "keywords:existence",
    "keywords:forbidden_words", "detectable_format:constrained_response",
)


def sample_constraints(rng: random.Random, k: int = 1) -> list[tuple[str, dict, str]]:
    """`k` distinct constraints as (instruction_id, kwargs, spoken sentence)."""
    out = []
    for instruction_id in rng.sample(CONSTRAINT_IDS, k):
        kwargs = _kwargs(instruction_id, rng)
        out.append((instruction_id, kwargs, describe(instruction_id, kwargs)))
    return out
