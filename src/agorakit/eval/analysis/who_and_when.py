"""The Who&When benchmark: scoring failure attribution against labelled failure logs.

Who&When (Zhang et al., ICML 2025; MIT licence; see ``data/who_and_when/SOURCE.md``
in ``agorakit.eval.datasets``) holds 184 failed multi-agent runs on GAIA and
AssistantBench questions, each labelled with the agent responsible for the
failure (``mistake_agent``) and the index of the decisive step in its
``history`` (``mistake_step``): 126 ``algorithm_generated`` logs (CaptainAgent
teams; the author is each entry's ``name``) and 58 ``hand_crafted`` logs
(Magentic-One; the author is the ``role``, whose suffix such as
"Orchestrator (thought)" is dropped, as the paper's scorer reads only the
first word).

Scoring follows the paper's: over all cases, the share whose predicted agent
is the labelled one (compared ignoring case: the labels spell "Websurfer" and
"WebSurfer") and the share whose predicted step is the labelled index. A case
without a prediction (step-by-step found no error, or the judge failed) counts
as wrong on both, and is counted in ``failed``.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from agorakit.core.errors import ConfigError, ContextWindowExceeded, ModelResponseError
from agorakit.core.usage import Usage
from agorakit.eval.analysis.attribution import MAX_STEP_CHARS, AttributionMethod, attribute
from agorakit.eval.analysis.transcript import Transcript
from agorakit.kernel import Kernel
from agorakit.models.base import ChatModel
from agorakit.models.uri import resolve_model

Subset = Literal["hand_crafted", "algorithm_generated"]
SUBSETS: tuple[Subset, ...] = ("algorithm_generated", "hand_crafted")
_ROLE_SUFFIX = re.compile(r"\s*\(.*\)\s*$")


def data_dir() -> Path:
    """Where the packaged Who&When files live (``agorakit/eval/datasets/data/who_and_when``)."""
    return Path(__file__).resolve().parent.parent / "datasets" / "data" / "who_and_when"


@dataclass(frozen=True, slots=True)
class FailureCase:
    """One labelled failure log: ``id`` is ``<subset>/<file number>``."""

    id: str
    subset: Subset
    transcript: Transcript
    answer: str
    mistake_agent: str
    mistake_step: int
    mistake_reason: str


def author(entry: dict[str, Any]) -> str:
    """A history entry's agent: its ``name``, else its ``role`` without a parenthesised suffix."""
    name = entry.get("name")
    if isinstance(name, str) and name:
        return name
    return _ROLE_SUFFIX.sub("", str(entry.get("role") or "unknown")) or "unknown"


def _case(record: dict[str, Any], subset: Subset, line: int) -> FailureCase:
    source = str(record.get("source_file") or f"{line}.json")
    history = record.get("history") or []
    transcript = Transcript.from_steps(
        str(record.get("question") or ""),
        [(author(entry), str(entry.get("content") or "")) for entry in history],
        run_id=f"{subset}/{Path(source).stem}",
        method="who_and_when",
    )
    return FailureCase(
        id=f"{subset}/{Path(source).stem}",
        subset=subset,
        transcript=transcript,
        answer=str(record.get("ground_truth") or ""),
        mistake_agent=str(record["mistake_agent"]),
        mistake_step=int(record["mistake_step"]),
        mistake_reason=str(record.get("mistake_reason") or ""),
    )


def load_who_and_when(subset: Subset, *, limit: int | None = None, root: Path | None = None) -> list[FailureCase]:
    """The first ``limit`` cases (all by default) of one subset, in the dataset's file order."""
    if subset not in SUBSETS:
        raise ConfigError(f"unknown Who&When subset {subset!r}", hint=f"use one of {', '.join(SUBSETS)}")
    path = (root or data_dir()) / f"{subset}.jsonl.gz"
    if not path.is_file():
        raise ConfigError(f"the Who&When data is missing: {path}", hint="reinstall agorakit; the files ship with it")
    cases: list[FailureCase] = []
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if limit is not None and len(cases) >= limit:
                break
            if line.strip():
                cases.append(_case(json.loads(line), subset, number))
    return cases


@dataclass(slots=True)
class AttributionScore:
    """Agent-level and step-level accuracy of one attribution method over ``n`` cases."""

    method: AttributionMethod
    subset: Subset
    n: int = 0
    agent_correct: int = 0
    step_correct: int = 0
    failed: int = 0
    calls: int = 0
    usage: Usage = field(default_factory=Usage)

    @property
    def agent_accuracy(self) -> float:
        return self.agent_correct / self.n if self.n else 0.0

    @property
    def step_accuracy(self) -> float:
        return self.step_correct / self.n if self.n else 0.0


async def score_attribution(
    judge: ChatModel | str,
    method: AttributionMethod = "all_at_once",
    limit: int | None = None,
    subset: Subset = "algorithm_generated",
    *,
    with_ground_truth: bool = True,
    max_step_chars: int = MAX_STEP_CHARS,
    max_tokens: int | None = None,
    kernel: Kernel | None = None,
    progress: Callable[[int, int], None] | None = None,
    root: Path | None = None,
) -> AttributionScore:
    """Attribute the first ``limit`` failures of ``subset`` with ``judge`` and score against the labels.

    ``with_ground_truth`` shows the judge the question's answer (the paper's
    main setting). ``progress(done, total)`` is called after each case.
    """
    cases = load_who_and_when(subset, limit=limit, root=root)
    model = resolve_model(judge)
    score = AttributionScore(method, subset)
    for done, case in enumerate(cases, start=1):
        score.n += 1
        try:
            found = await attribute(
                case.transcript,
                model,
                method=method,
                ground_truth=case.answer if with_ground_truth else None,
                max_step_chars=max_step_chars,
                max_tokens=max_tokens,
                kernel=kernel,
            )
        except (ModelResponseError, ContextWindowExceeded):
            # No valid reply for this log (or it does not fit the judge): no prediction, as in the paper.
            score.failed += 1
        else:
            score.calls += found.calls
            score.usage.add(found.usage)
            if not found.found:
                score.failed += 1
            score.agent_correct += found.agent is not None and found.agent.lower() == case.mistake_agent.lower()
            score.step_correct += found.step == case.mistake_step
        if progress is not None:
            progress(done, len(cases))
    return score
