"""The per-sample view: for each dataset and method configuration, every question with its answers."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from agorakit.eval.metrics import method_labels
from agorakit.eval.record import ResultRow
from agorakit.eval.report.tables import TextTable

QUESTION_PREVIEW = 160
ANSWER_PREVIEW = 80
SAMPLE_HEADERS = ["sample", "question", "expected", "answer", "result", "trace run id"]
_PROSE = frozenset({1})


def _short(text: str, limit: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def outcome(row: ResultRow) -> str:
    """``correct``, ``incorrect`` or ``error``."""
    if row.status == "error":
        return "error"
    return "correct" if row.correct else "incorrect"


def sample_texts(rows: Iterable[ResultRow]) -> list[tuple[str, str, TextTable]]:
    """(dataset, method label, table) per group, sorted; a row without a stored question shows ``–``."""
    groups: dict[tuple[str, str, str, str], list[ResultRow]] = defaultdict(list)
    for row in rows:
        key = row.key
        groups[(key.dataset, key.method, key.config_hash, key.model)].append(row)
    labels = method_labels((method, config_hash, model) for _, method, config_hash, model in groups)
    tables = []
    for (dataset, method, config_hash, model), members in groups.items():
        lines = [
            [
                row.key.sample_id,
                _short(row.question, QUESTION_PREVIEW) or "–",
                _short(row.expected, ANSWER_PREVIEW) or "–",
                _short(row.extracted or "", ANSWER_PREVIEW) or "–",
                outcome(row),
                row.run_id,
            ]
            for row in sorted(members, key=lambda r: r.key.sample_id)
        ]
        label = labels[(method, config_hash, model)]
        tables.append((dataset, label, TextTable(list(SAMPLE_HEADERS), lines, ["left"] * 6, prose=_PROSE)))
    return sorted(tables, key=lambda item: (item[0], item[1]))
