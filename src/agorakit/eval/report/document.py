"""What a report says, independent of its format: a title, then sections of text, tables and plots."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from agorakit.eval.metrics import Summary, leaderboard
from agorakit.eval.record import ResultRow
from agorakit.eval.report.plots import Plot
from agorakit.eval.report.samples import sample_texts
from agorakit.eval.report.tables import (
    TextTable,
    configs_text,
    dataset_text,
    leaderboard_text,
    summary_text,
    uses_cost,
)

EFFICIENT_AGENTS = (
    'Wang et al., "Efficient Agents: Building Effective Agents While Reducing Cost", 2025, arXiv:2508.02694'
)
COST_OF_PASS = (
    'Erol et al., "Cost-of-Pass: An Economic Framework for Evaluating Language Models", 2025, arXiv:2504.13359'
)


@dataclass(frozen=True, slots=True)
class Section:
    """A heading (level 2 or 3), paragraphs, then optionally a table and plots."""

    heading: str
    level: int = 2
    paragraphs: list[str] = field(default_factory=list)
    table: TextTable | None = None
    plots: list[Plot] = field(default_factory=list)
    collapsed: bool = False  # HTML folds the table into a <details> element


@dataclass(frozen=True, slots=True)
class Document:
    """A whole report: rendered to markdown and to HTML by sibling modules."""

    title: str
    intro: list[str]
    sections: list[Section]


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def build_document(
    title: str, summaries: Sequence[Summary], plots: Sequence[Plot], results: Sequence[ResultRow] = ()
) -> Document:
    """Lay out the report: summary, leaderboards, plots, per dataset, per sample, configurations, definitions.

    The per-sample tables come from ``results`` (the rows the summaries were made from); none without them.
    """
    datasets = sorted({s.dataset for s in summaries})
    labels = sorted({s.label for s in summaries})
    models = sorted({s.model for s in summaries})
    rows = sum(s.n for s in summaries)
    intro = [
        f"{_plural(rows, 'result')} · {_plural(len(datasets), 'dataset')} ({', '.join(datasets)}) · "
        f"{_plural(len(labels), 'method configuration')} · {_plural(len(models), 'model')} ({', '.join(models)})."
    ]
    by_cost = uses_cost(summaries)
    efficiency = "cost_of_pass" if by_cost else "tokens_per_pass"
    efficiency_name = "cost per correct answer (USD)" if by_cost else "tokens per correct answer"
    sections = [
        Section(
            "Summary",
            paragraphs=[
                "One line per dataset and method configuration. Accuracy with its 95% Wilson interval; "
                "tokens, calls and latency are means per question; cost/pass and tokens/pass are the "
                "expected cost of one correct answer (∞ when none is correct). Errors count as wrong answers."
            ],
            table=summary_text(summaries),
        ),
        Section(
            "Leaderboard: accuracy (%)",
            paragraphs=[
                "Methods × datasets. avg is the mean over the datasets a method ran on; avg rank is the mean "
                "of its rank on each dataset (1 = best, ties share the mean rank); missing cells are left out "
                "of both. The best value of each column is in bold."
            ],
            table=leaderboard_text(leaderboard(summaries, "accuracy")),
        ),
        Section(
            f"Leaderboard: {efficiency_name}",
            paragraphs=[
                "Lower is better; ranks as above, a method with no correct answer on a dataset (∞) ranks last."
            ],
            table=leaderboard_text(leaderboard(summaries, efficiency)),
        ),
        Section("Plots", plots=list(plots)),
        Section("Per dataset"),
    ]
    for dataset in datasets:
        members = [s for s in summaries if s.dataset == dataset]
        sections.append(Section(dataset, level=3, table=dataset_text(members)))
    if results:
        sections.append(
            Section(
                "Per sample",
                paragraphs=[
                    "Every question of each dataset and method configuration: the question (shortened), the "
                    "expected answer, the answer extracted from the method's output, the verdict, and the run id "
                    "of its trace (agora trace show RUN_ID)."
                ],
            )
        )
        for dataset, label, table in sample_texts(results):
            sections.append(Section(f"{dataset} · {label}", level=3, table=table, collapsed=True))
    sections.append(
        Section(
            "Configurations",
            paragraphs=[
                "Each method configuration once, with the settings that produced it "
                "(the config hash is part of the key resumed runs skip on)."
            ],
            table=configs_text(summaries),
        )
    )
    sections.append(
        Section(
            "Definitions",
            paragraphs=[
                "Accuracy: correct answers / questions, with the 95% Wilson score interval "
                "(Wilson 1927), which stays inside [0, 1] and is not empty at 0% or 100%.",
                "Cost-of-pass: the expected cost of one correct answer, total cost / correct answers "
                f"(= mean cost per question / accuracy), as used by {EFFICIENT_AGENTS}, after {COST_OF_PASS}. "
                "Tokens-per-pass is the same in tokens, for local models whose dollar cost is zero.",
                "Pareto front (accuracy vs. cost plot): the configurations no other configuration beats on "
                "both accuracy and cost.",
            ],
        )
    )
    return Document(title=title, intro=intro, sections=sections)
