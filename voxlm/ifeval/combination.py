"""`combination:*`: instructions about the response as a whole made of parts: two
alternative answers, or the request repeated before the answer.
"""

from __future__ import annotations

import re

from . import _text
from .registry import instruction


@instruction("combination:two_responses", lambda: (
    "Give two different responses, separated by six asterisks: ******."))
def combination_two_responses(response: str) -> bool:
    """Exactly two different non-empty responses separated by `******`."""
    responses = _text.blocks(response, re.escape("******"))
    return responses is not None and len(responses) == 2 and responses[0] != responses[1]


@instruction("combination:repeat_prompt", lambda *, prompt_to_repeat: (
    "First repeat the request word for word without change, then give your answer. "
    "Do not say anything before the request, and do not repeat this sentence."))
def combination_repeat_prompt(response: str, *, prompt_to_repeat: str) -> bool:
    """Starts with `prompt_to_repeat` (the request without this instruction), ignoring case."""
    return response.strip().lower().startswith(prompt_to_repeat.strip().lower())
