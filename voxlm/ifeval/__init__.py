"""IFEval's verifiable instructions: rule-based checkers, loose scoring and metrics.

The 25 instruction ids and their kwargs follow IFEval (Zhou et al., 2023) so that IFEval and
SpeechInstructBench closed-ended files score here unchanged. The code is our own, standard
library only: no NLTK (words and sentences are split with regular expressions, `_text`) and no
langdetect (languages are told apart by script plus a few function words, `language`).

This package is the ground floor: it imports nothing else from voxlm, so both the data side
(which speaks instructions) and the eval side (which scores answers) can build on it.

    registry      Checker, CHECKERS, the `instruction` decorator, UnknownInstructionError
    keywords, language, length, content, format, combination, startend, case, punctuation
                  the instruction families, one module per IFEval id prefix; each registers its own
    _kwargs       validation and normalisation of raw IFEval kwargs
    checks        check, check_loose, describe: one instruction, one response
    metrics       evaluate_item, aggregate: IFEval's prompt- and instruction-level accuracies
    _text, _phrasing, _relations   helpers the families share

Where IFEval would draw a random default for a missing kwarg, we raise instead: a score must not
depend on a random draw.

    >>> check("punctuation:no_comma", "Fine, thanks.", {})
    False
    >>> check_loose("startend:quotation", 'Sure:\\n"Hi there."', {})
    True
    >>> describe("length_constraints:number_words", {"relation": "less than", "num_words": 50})
    'Answer with less than 50 words.'
"""

from __future__ import annotations

# Importing a family registers its instructions. Families come in IFEval's order, so CHECKERS
# reads like IFEval's registry except that startend:quotation, which IFEval lists last, sits
# with its family.
from . import keywords, language, length, content, format, combination, startend, case, punctuation  # noqa: F401
from .checks import check, check_loose, describe
from .metrics import aggregate, evaluate_item
from .registry import CHECKERS, Checker, UnknownInstructionError

SUPPORTED_INSTRUCTIONS: tuple[str, ...] = tuple(CHECKERS)

__all__ = [
    "CHECKERS",
    "SUPPORTED_INSTRUCTIONS",
    "Checker",
    "UnknownInstructionError",
    "aggregate",
    "check",
    "check_loose",
    "describe",
    "evaluate_item",
]
