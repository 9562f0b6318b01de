"""The fenced code blocks of README.md and docs/*.md, and the convention they follow.

Every fence names its language; the language says what the doc test does with it:

- ``python``: executed in-process; the blocks of one document share one
  namespace, in order, in a fresh scratch directory with a private
  ``AGORAKIT_HOME`` and trace database.
- ``bash``: each command (one line, or lines joined by a trailing backslash)
  runs in a subprocess (``agora serve`` in the background, until its document's
  commands are done) with ``.venv/bin`` first on ``PATH``; all documents'
  commands form one shell session (README first), so ``agora trace show last``
  sees the run an earlier command made.
- ``yaml``, ``json``: parsed; a YAML policy (a ``tools`` mapping) must load with
  ``Policy.load``, a YAML model script (``responses``) with ``load_script``, a
  serve config (``entries``) with ``ServeConfig``.
  ``yaml NAME`` is also written to the file NAME in the document's scratch
  directory before its python blocks run (``Policy.load("NAME")`` then works).
- ``text``: output or prose, not run. ``text output`` is the exact standard
  output of the ``python`` block just before it, and is checked.

Any other fence (or one with no language) fails the test, so no unrunnable
block is added by accident.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[2]
LANGUAGES = {"python", "bash", "yaml", "json", "text"}


@dataclass(frozen=True)
class Block:
    doc: str  # path relative to the repository root
    line: int  # 1-based line of the opening fence
    info: str  # the fence's info string, e.g. "python" or "text output"
    code: str

    @property
    def language(self) -> str:
        return self.info.split()[0] if self.info.split() else ""

    @property
    def file_name(self) -> str | None:
        """The file a ``yaml NAME`` block stands for."""
        words = self.info.split()
        return words[1] if len(words) == 2 and words[0] in {"yaml", "json"} else None

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"


def documents() -> list[str]:
    """README.md, then every page under docs/, in name order."""
    return ["README.md", *(str(path.relative_to(ROOT)) for path in sorted((ROOT / "docs").glob("*.md")))]


def blocks(doc: str) -> list[Block]:
    tokens = MarkdownIt("commonmark").parse((ROOT / doc).read_text(encoding="utf-8"))
    return [
        Block(doc, token.map[0] + 1 if token.map else 0, token.info.strip(), token.content)
        for token in tokens
        if token.type == "fence"
    ]


def all_blocks() -> list[Block]:
    return [block for doc in documents() for block in blocks(doc)]


def expected_output(doc_blocks: list[Block], index: int) -> str | None:
    """The ``text output`` block right after block ``index``, if there is one."""
    following = doc_blocks[index + 1] if index + 1 < len(doc_blocks) else None
    return following.code if following is not None and following.info.split() == ["text", "output"] else None


def shell_commands(code: str) -> list[str]:
    """The commands of a bash block: continuation lines joined, blank and comment-only lines dropped."""
    commands: list[str] = []
    pending = ""
    for line in code.splitlines():
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        command = (pending + line).strip()
        pending = ""
        if command and not command.startswith("#"):
            commands.append(command)
    return commands
