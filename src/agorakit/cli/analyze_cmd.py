"""``agora analyze``: which agent failed a traced run, and when; MAST failure modes; dialog quality;
and attribution accuracy on the Who&When benchmark."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from agorakit.cli.tables import Column, Grid, print_table
from agorakit.cli.trace_cmd import DbOption
from agorakit.core import settings

if TYPE_CHECKING:
    from rich.progress import TaskID

    from agorakit.eval.analysis.attribution import Attribution, AttributionMethod
    from agorakit.eval.analysis.mast import MastReport
    from agorakit.eval.analysis.transcript import Transcript
    from agorakit.eval.analysis.who_and_when import AttributionScore, Subset
    from agorakit.kernel import Kernel
    from agorakit.models.base import ChatModel

HOW: dict[str, AttributionMethod] = {
    "all-at-once": "all_at_once",
    "step-by-step": "step_by_step",
    "binary-search": "binary_search",
}
BENCHMARKS = ("who-and-when",)
SUBSET_CHOICES = ("algorithm_generated", "hand_crafted", "all")
PREVIEW = 160


def _methods(how: str, *, allow_none: bool) -> list[AttributionMethod]:
    if how == "all":
        return list(HOW.values())
    if how == "none" and allow_none:
        return []
    if how not in HOW:
        choices = ", ".join([*HOW, "all", *(["none"] if allow_none else [])])
        raise typer.BadParameter(f"{how!r} is not one of {choices}", param_hint="--how")
    return [HOW[how]]


def analyze(
    run_id: Annotated[
        str | None, typer.Argument(help="A run id, a unique prefix of one, or `last` (omit with --benchmark).")
    ] = None,
    judge: Annotated[
        str | None,
        typer.Option("--judge", "-j", help="Judge model URI (default: $AGORAKIT_MODEL or llamacpp:gemma-3-270m)."),
    ] = None,
    how: Annotated[
        str,
        typer.Option(
            "--how", help="Attribution method: all-at-once, step-by-step, binary-search, all, or none (no judge)."
        ),
    ] = "all-at-once",
    ground_truth: Annotated[
        str | None, typer.Option("--ground-truth", help="The task's correct answer, shown to the judge.")
    ] = None,
    mast: Annotated[bool, typer.Option("--mast", help="Also classify the run into the MAST failure modes.")] = False,
    dialog: Annotated[
        bool, typer.Option("--dialog", help="Also print dialog quality: CORE components, Zipf and Heaps exponents.")
    ] = False,
    db: DbOption = None,
    benchmark: Annotated[
        str | None, typer.Option("--benchmark", help="Score attribution on a benchmark instead: who-and-when.")
    ] = None,
    subset: Annotated[
        str, typer.Option("--subset", help="Who&When subset: algorithm_generated, hand_crafted or all.")
    ] = "algorithm_generated",
    limit: Annotated[int | None, typer.Option("--limit", "-n", min=1, help="Score only the first N cases.")] = None,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", min=1, help="Most tokens per judge reply.")] = None,
    max_step_chars: Annotated[
        int, typer.Option("--max-step-chars", min=50, help="Each step's text is cut to this many characters.")
    ] = 1500,
) -> None:
    """Find which agent caused a multi-agent run to fail, and at which step (steps are numbered from 0).

    Attribution follows "Which Agent Causes Task Failures and When?" (Zhang et al., ICML 2025): the
    judge reads the whole log (all-at-once), walks it step by step, or halves it (binary-search).
    """
    console = Console(soft_wrap=True, highlight=False)
    if benchmark is not None:
        if benchmark not in BENCHMARKS:
            raise typer.BadParameter(f"{benchmark!r} is not one of {', '.join(BENCHMARKS)}", param_hint="--benchmark")
        if run_id is not None:
            raise typer.BadParameter("give either RUN_ID or --benchmark, not both", param_hint="RUN_ID")
        if subset not in SUBSET_CHOICES:
            raise typer.BadParameter(f"{subset!r} is not one of {', '.join(SUBSET_CHOICES)}", param_hint="--subset")
        methods = _methods(how, allow_none=False)
        _benchmark(console, judge, methods, subset, limit, max_tokens, max_step_chars)
        return
    if run_id is None:
        raise typer.BadParameter("give a RUN_ID (or `last`), or --benchmark who-and-when", param_hint="RUN_ID")
    methods = _methods(how, allow_none=True)
    from agorakit.eval.analysis.transcript import load_transcript

    transcript = load_transcript(run_id, db)
    _header(console, transcript)
    if methods or mast:
        backend = _load_judge(console, judge)
        # One method at a time, printed as it finishes: a later failure keeps what was found.
        for method in methods:
            with console.status(f"{_label(method)} with {backend.uri} …", spinner="dots"):
                found = asyncio.run(_attribute(transcript, backend, method, ground_truth, max_tokens, max_step_chars))
            _print_attribution(console, transcript, found)
        if mast:
            with console.status(f"MAST with {backend.uri} …", spinner="dots"):
                report = asyncio.run(_classify(transcript, backend, ground_truth, max_tokens, max_step_chars))
            _print_mast(console, report)
    if dialog:
        _print_dialog(console, transcript)


def _load_judge(console: Console, judge: str | None) -> ChatModel:
    from agorakit.models import resolve_model

    backend = resolve_model(judge or settings.default_model())
    preload = getattr(backend, "load", None)
    if callable(preload):
        with console.status(f"Loading {backend.uri} …", spinner="dots"):
            preload()
    return backend


def _kernel() -> Kernel:
    from agorakit.kernel import Kernel

    return Kernel()  # its own queues, made inside the event loop that uses them


async def _attribute(
    transcript: Transcript,
    backend: ChatModel,
    method: AttributionMethod,
    ground_truth: str | None,
    max_tokens: int | None,
    max_step_chars: int,
) -> Attribution:
    from agorakit.eval.analysis.attribution import attribute

    return await attribute(
        transcript,
        backend,
        method=method,
        ground_truth=ground_truth,
        max_tokens=max_tokens,
        max_step_chars=max_step_chars,
        kernel=_kernel(),
    )


async def _classify(
    transcript: Transcript, backend: ChatModel, ground_truth: str | None, max_tokens: int | None, max_step_chars: int
) -> MastReport:
    from agorakit.eval.analysis.mast import classify

    return await classify(
        transcript,
        backend,
        ground_truth=ground_truth,
        max_tokens=max_tokens,
        max_step_chars=max_step_chars,
        kernel=_kernel(),
    )


def _header(console: Console, transcript: Transcript) -> None:
    from agorakit.cli.render import truncate

    method = f" · {transcript.method}" if transcript.method else ""
    agents = ", ".join(transcript.agents) or "none"
    console.print(f"[bold]run {escape(transcript.run_id or '')}[/bold]{escape(method)} · {len(transcript)} steps")
    console.print(f"[bold]task:[/bold] {escape(truncate(transcript.task, 300))}")
    console.print(f"[bold]agents:[/bold] {escape(agents)}")


def _calls(count: int) -> str:
    return f"{count} judge call{'' if count == 1 else 's'}"


def _label(method: str) -> str:
    return method.replace("_", "-")


def _print_attribution(console: Console, transcript: Transcript, found: Attribution) -> None:
    from agorakit.cli.render import truncate

    calls = f"[dim]({_calls(found.calls)})[/dim]"
    console.print()
    if found.step is None:
        console.print(f"[bold]{_label(found.method)}:[/bold] no step was judged decisive {calls}")
        return
    step = transcript.steps[found.step]
    agent = escape(found.agent or step.agent)
    console.print(f"[bold]{_label(found.method)}:[/bold] [bold red]{agent}[/bold red] at step {found.step} {calls}")
    console.print(f"  step {found.step} · {escape(step.agent)}: [dim]{escape(truncate(step.content, PREVIEW))}[/dim]")
    console.print(f"  reason: {escape(' '.join(found.reason.split()))}")


def _print_mast(console: Console, report: MastReport) -> None:
    console.print()
    if not report.failures:
        console.print("[bold]MAST:[/bold] no failure mode found")
    else:
        mast = Grid(
            [
                Column("id", kind="id"),
                Column("failure mode", kind="text"),
                Column("category", kind="text", drop=1),
                Column("step", justify="right"),
            ],
            title="MAST failure modes",
        )
        for failure in report.failures:
            mast.add_row(failure.id, failure.name, failure.category, str(failure.step))
        print_table(console, mast)
    console.print(f"  summary: {escape(' '.join(report.summary.split()))} [dim]({_calls(report.calls)})[/dim]")


def _print_dialog(console: Console, transcript: Transcript) -> None:
    from agorakit.eval.analysis.dialog import dialog_quality

    quality = dialog_quality(transcript)
    table = Grid(
        [Column("metric", kind="text"), Column("value", justify="right")], title="dialog quality (TF-IDF embeddings)"
    )
    rows = [
        ("turns", str(quality.turns)),
        ("tokens", str(quality.tokens)),
        ("cluster entropy (nats)", f"{quality.cluster_entropy:.3f}"),
        ("lexical repetition", f"{quality.lexical_repetition:.3f}"),
        ("semantic similarity", f"{quality.semantic_similarity:.3f}"),
        ("CORE", f"{quality.core:.3f}"),
        ("Zipf exponent", f"{quality.zipf:.3f}"),
        ("Heaps exponent", f"{quality.heaps:.3f}"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print()
    print_table(console, table)


def _benchmark(
    console: Console,
    judge: str | None,
    methods: Sequence[AttributionMethod],
    subset: str,
    limit: int | None,
    max_tokens: int | None,
    max_step_chars: int,
) -> None:
    from agorakit.eval.analysis.who_and_when import SUBSETS, load_who_and_when

    subsets = [name for name in SUBSETS if subset in ("all", name)]
    sizes = {name: len(load_who_and_when(name, limit=limit)) for name in subsets}
    backend = _load_judge(console, judge)
    scores = asyncio.run(_score_all(console, backend, methods, subsets, sizes, limit, max_tokens, max_step_chars))
    numbers = ("cases", "agent acc.", "step acc.", "no prediction", "judge calls")
    table = Grid(
        [
            Column("subset"),
            Column("method"),
            *(Column(c, justify="right", drop={"judge calls": 1, "no prediction": 2}.get(c)) for c in numbers),
        ],
        title=f"Who&When attribution accuracy · judge {backend.uri}",
    )
    for score in scores:
        table.add_row(
            score.subset,
            _label(score.method),
            str(score.n),
            f"{score.agent_accuracy:.1%}",
            f"{score.step_accuracy:.1%}",
            str(score.failed),
            str(score.calls),
        )
    print_table(console, table)


async def _score_all(
    console: Console,
    backend: ChatModel,
    methods: Sequence[AttributionMethod],
    subsets: Sequence[Subset],
    sizes: dict[Subset, int],
    limit: int | None,
    max_tokens: int | None,
    max_step_chars: int,
) -> list[AttributionScore]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from agorakit.eval.analysis.who_and_when import score_attribution

    kernel = _kernel()
    scores: list[AttributionScore] = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        for subset in subsets:
            for method in methods:
                task = progress.add_task(f"{subset} · {_label(method)}", total=sizes[subset])

                def advance(done: int, total: int, task: TaskID = task) -> None:
                    progress.update(task, completed=done, total=total)

                score = await score_attribution(
                    backend,
                    method,
                    limit,
                    subset,
                    max_tokens=max_tokens,
                    max_step_chars=max_step_chars,
                    kernel=kernel,
                    progress=advance,
                )
                scores.append(score)
    return scores
