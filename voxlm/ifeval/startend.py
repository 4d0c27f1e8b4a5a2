"""`startend:*`: how a response begins and ends: a closing phrase, or wrapping quotation marks."""

from __future__ import annotations

from .registry import instruction


@instruction("startend:end_checker", lambda *, end_phrase: (
    f"Finish your response with this exact phrase: {end_phrase} No other words should follow it."))
def startend_end_checker(response: str, *, end_phrase: str) -> bool:
    """Ends with `end_phrase`, ignoring case, outer whitespace and wrapping double quotes."""
    return response.strip().strip('"').lower().endswith(end_phrase.strip().lower())


@instruction("startend:quotation", lambda: "Wrap your entire response in double quotation marks.")
def startend_quotation(response: str) -> bool:
    """Starts and ends with a straight double quote `"` (curly quotes fail, as in IFEval)."""
    text = response.strip()
    return len(text) > 1 and text[0] == text[-1] == '"'
