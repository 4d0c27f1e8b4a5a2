"""Verifiable constraints (IFEval vocabulary) to append to spoken instructions.

The same sampler feeds the speech-instruct training data and the `instruct` benchmark; what keeps
the benchmark held out is its instructions (a disjoint corpus split) and its voices, not the
constraint types, which are exactly the skill being measured.

Which ids the sampler uses and how their kwargs are drawn is one table, `_DRAW_KWARGS`; the
ids' meaning and kwarg names belong to `voxlm.ifeval`, which checks every draw (via
`describe`) when it is made.
"""

from __future__ import annotations

import random
from typing import Callable

from ..ifeval import describe

_KEYWORDS = ("music", "river", "future", "garden", "history", "energy", "market", "ocean", "science", "travel")


def _no_kwargs(rng: random.Random, relation: str) -> dict:
    return {}


# The one list of constraints the sampler draws from: instruction id -> its kwargs, drawn from
# `rng` (with `relation` for the counting ones). Order matters: `rng.sample` picks by position,
# so reordering would change every seeded set.
_DRAW_KWARGS: dict[str, Callable[[random.Random, str], dict]] = {
    "length_constraints:number_words":
        lambda rng, relation: {"relation": relation, "num_words": rng.choice([20, 30, 50, 80])},
    "length_constraints:number_sentences":
        lambda rng, relation: {"relation": relation, "num_sentences": rng.choice([2, 3, 4])},
    "length_constraints:number_paragraphs": lambda rng, relation: {"num_paragraphs": rng.choice([2, 3])},
    "punctuation:no_comma": _no_kwargs,
    "change_case:english_lowercase": _no_kwargs,
    "change_case:english_capital": _no_kwargs,
    "detectable_format:number_bullet_lists": lambda rng, relation: {"num_bullets": rng.choice([2, 3, 4])},
    "detectable_format:title": _no_kwargs,
    "detectable_format:json_format": _no_kwargs,
    "startend:end_checker": lambda rng, relation: {"end_phrase": rng.choice([
        "Is there anything else I can help with?", "That is all.", "Thank you for listening."])},
    "startend:quotation": _no_kwargs,
    "detectable_content:postscript": lambda rng, relation: {"postscript_marker": rng.choice(["P.S.", "P.P.S"])},
    "keywords:existence": lambda rng, relation: {"keywords": rng.sample(_KEYWORDS, 2)},
    "keywords:forbidden_words": lambda rng, relation: {"forbidden_words": rng.sample(_KEYWORDS, 2)},
    "detectable_format:constrained_response": _no_kwargs,
}

CONSTRAINT_IDS = tuple(_DRAW_KWARGS)


def sample_constraints(rng: random.Random, k: int = 1) -> list[tuple[str, dict, str]]:
    """`k` distinct constraints as (instruction_id, kwargs, spoken sentence)."""
    out = []
    for instruction_id in rng.sample(CONSTRAINT_IDS, k):
        # Drawn for every constraint, used or not, so that a seed yields the sets it always has.
        relation = rng.choice(["less than", "at least"])
        kwargs = _DRAW_KWARGS[instruction_id](rng, relation)
        out.append((instruction_id, kwargs, describe(instruction_id, kwargs)))
    return out
