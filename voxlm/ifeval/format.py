"""`detectable_format:*`: markdown and layout a response must use: bullets, highlights,
numbered sections, a title, JSON, or one of IFEval's fixed yes/no/maybe answers.
"""

from __future__ import annotations

import json
import re

from . import _phrasing
from .registry import instruction


@instruction("detectable_format:number_bullet_lists", lambda *, num_bullets: (
    f"Use exactly {_phrasing.plural(num_bullets, 'markdown bullet point')}, such as: * This is a point."))
def format_number_bullet_lists(response: str, *, num_bullets: int) -> bool:
    """Exactly `num_bullets` lines starting with `* ` or `- `.

    A space after the marker is required so that `***` dividers, `---` rules, `**bold**` openers
    and "-5 degrees" are not bullets (IFEval counts the last two).
    """
    return len(re.findall(r"^[ \t]*[*-][ \t]+\S", response, re.MULTILINE)) == num_bullets


_CONSTRAINED_OPTIONS = ("My answer is yes.", "My answer is no.", "My answer is maybe.")


@instruction("detectable_format:constrained_response", lambda: (
    'Answer with one of the following options: "My answer is yes.", "My answer is no.", '
    'or "My answer is maybe."'))
def format_constrained_response(response: str) -> bool:
    """Contains one of IFEval's fixed options, e.g. "My answer is yes." (case-sensitive)."""
    return any(option in response for option in _CONSTRAINED_OPTIONS)


@instruction("detectable_format:number_highlighted_sections", lambda *, num_highlights: (
    f"Highlight at least {_phrasing.plural(num_highlights, 'section')} with markdown, "
    "such as *highlighted section*."))
def format_number_highlighted_sections(response: str, *, num_highlights: int) -> bool:
    """At least `num_highlights` non-blank `*italic*` or `**bold**` spans within a line."""
    spans = re.findall(r"\*\*([^\n*]*)\*\*|\*([^\n*]*)\*", response)
    return sum(bool((bold or italic).strip()) for bold, italic in spans) >= num_highlights


@instruction("detectable_format:multiple_sections", lambda *, section_spliter, num_sections: (
    f"Divide your response into {_phrasing.plural(num_sections, 'section')}, and begin each one with "
    f"{section_spliter} and its number, like {section_spliter} 1."))
def format_multiple_sections(response: str, *, section_spliter: str, num_sections: int) -> bool:
    """At least `num_sections` headers "`section_spliter` N" (case-sensitive, e.g. "SECTION 2")."""
    headers = re.findall(rf"{re.escape(section_spliter.strip())}\s?\d+", response)
    return len(headers) >= num_sections


@instruction("detectable_format:json_format", lambda: "Wrap your entire output in JSON format.")
def format_json(response: str) -> bool:
    """The whole response parses as JSON, optionally inside one ```json fenced block."""
    text = response.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", text, re.DOTALL | re.IGNORECASE)
    try:
        json.loads(fenced.group(1) if fenced else text)
    except ValueError:
        return False
    return True


@instruction("detectable_format:title", lambda: (
    "Give your answer a title wrapped in double angular brackets, such as <<poem of joy>>."))
def format_title(response: str) -> bool:
    """Contains a non-blank `<<title>>` on one line."""
    return any(t.strip() for t in re.findall(r"<<([^\n]+?)>>", response))
