"""`detectable_content:*`: things a response must contain, wherever they sit: bracketed
placeholders and a postscript marker.
"""

from __future__ import annotations

import re

from . import _phrasing
from .registry import instruction


@instruction("detectable_content:number_placeholders", lambda *, num_placeholders: (
    f"Include at least {_phrasing.plural(num_placeholders, 'placeholder')} in square brackets, such as [address]."))
def content_number_placeholders(response: str, *, num_placeholders: int) -> bool:
    """At least `num_placeholders` bracketed placeholders like `[name]` on one line."""
    return len(re.findall(r"\[[^\[\]\n]*\]", response)) >= num_placeholders


@instruction("detectable_content:postscript", lambda *, postscript_marker: (
    f"At the end of your response, add a postscript starting with {postscript_marker}"
    f"{'' if postscript_marker.endswith('.') else '.'}"))
def content_postscript(response: str, *, postscript_marker: str) -> bool:
    """The marker (e.g. "P.S." or "P.P.S") appears, ignoring case and a space after each dot.

    Like IFEval, its position is not checked: "at the end" is not verifiable without guessing
    where a postscript's own text ends.
    """
    pattern = re.escape(postscript_marker.strip().lower()).replace(r"\.", r"\.\s?")
    return re.search(rf"(?<!\w){pattern}", response.lower()) is not None
