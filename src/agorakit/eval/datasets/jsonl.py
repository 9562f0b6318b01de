"""Reading JSONL files (plain or gzipped), one object per line, with errors that name the line."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from agorakit.core.errors import ConfigError


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, record)`` for each non-blank line, counting lines from 1.

    A ``.gz`` file is decompressed on the fly. A line that is not a JSON
    object raises :class:`ConfigError` naming the file and line.
    """
    try:
        handle = _open(path)
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror or error}") from None
    with handle:
        try:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    raise ConfigError(
                        f"{path}:{number} is not valid JSON ({error.msg})",
                        hint="a JSONL file holds one JSON object per line",
                    ) from None
                if not isinstance(record, dict):
                    raise ConfigError(
                        f"{path}:{number} is a JSON {type(record).__name__}, not an object",
                        hint="a JSONL file holds one JSON object per line",
                    )
                yield number, record
        except (OSError, UnicodeDecodeError, EOFError) as error:
            raise ConfigError(f"cannot read {path}: {error}", hint="is it a UTF-8 JSONL file?") from None


def _open(path: Path) -> TextIO:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open(encoding="utf-8")
