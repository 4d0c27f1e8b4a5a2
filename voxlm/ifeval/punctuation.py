"""`punctuation:*`: punctuation a response must avoid. IFEval has one such instruction: no commas."""

from __future__ import annotations

from .registry import instruction


@instruction("punctuation:no_comma", lambda: "Do not use any commas in your response.")
def punctuation_no_comma(response: str) -> bool:
    """No ASCII comma (as IFEval: the CJK "，" and Arabic "،" are not checked)."""
    return "," not in response
