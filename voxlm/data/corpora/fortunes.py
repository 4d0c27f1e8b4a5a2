"""The Debian `fortunes` package (`apt-get install fortunes`): quips, quotes and short stories."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

from .text import Document, SourceMissingError

FORTUNES_DIR = Path("/usr/share/games/fortunes")

_ATTRIBUTION = re.compile(r"^\s*--\s")
_CHAT_LOG = re.compile(r"^\s*(?:<[^>\s]+>|\*\s+\S+\s)", re.M)  # IRC logs: "<nick> hi", "* nick waves"


def parse_fortunes(text: str) -> Iterator[str]:
    """The entries of one fortune file (`%` lines separate them), attribution lines (`-- Author`) removed.

    Chat logs (`<nick> text` lines) are skipped: nicknames and emoticons are not prose to be spoken.
    """
    entry: list[str] = []
    for line in text.splitlines() + ["%"]:
        if line.strip() == "%":
            body = "\n".join(entry).strip()
            if body and not _CHAT_LOG.search(body):
                yield body
            entry = []
        elif not _ATTRIBUTION.match(line):
            entry.append(line)


def fortune_documents(directory: str | Path | None = None) -> Iterator[Document]:
    """Every fortune of the Debian `fortunes` package (each file that has a `.dat` index beside it)."""
    directory = Path(directory) if directory is not None else FORTUNES_DIR
    files = sorted(p for p in directory.glob("*") if p.is_file() and not p.is_symlink() and p.suffix == ""
                   and p.with_name(p.name + ".dat").exists()) if directory.is_dir() else []
    if not files:
        raise SourceMissingError(f"no fortune files in {directory}: run `apt-get install fortunes`")
    for path in files:
        text = path.read_bytes().decode("utf-8", errors="replace")
        for i, entry in enumerate(parse_fortunes(text)):
            yield Document(f"fortunes:{path.name}/{i}", entry, "fortunes")
