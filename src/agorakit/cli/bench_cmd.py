"""``agora bench``: run methods × datasets × models into the results store, resumably."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from agorakit.core import settings
from agorakit.core.errors import ConfigError

BENCH_DB_HELP = (
    "Results database (default: $AGORAKIT_BENCH_DB, else bench.db in $AGORAKIT_HOME, which is ~/.agorakit unless set)."
)

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from agorakit.eval.runner import GridOutcome


def _names(text: str, option: str) -> list[str]:
    names = list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if not names:
        raise ConfigError(f"{option} is empty", hint=f"give one or more names separated by commas, e.g. {option} cot")
    return names


def split_settings(items: Sequence[str], methods: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``--set`` values as each method's typed overrides.

    ``METHOD.KEY=VALUE`` sets one method's setting; an unqualified ``KEY=VALUE``
    applies to every method in ``methods`` that has the setting, and is an
    error when none has it. Values are read as the setting's type.
    """
    from agorakit.cli.methods_cmd import describe_settings, parse_settings
    from agorakit.methods import method_class

    classes = {name: method_class(name) for name in methods}
    per_method: dict[str, list[str]] = {name: [] for name in methods}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(
                f"--set {item!r}: expected METHOD.KEY=VALUE or KEY=VALUE", hint="for example --set llm_debate.rounds=2"
            )
        name, dot, setting = key.partition(".")
        if dot:
            if name not in per_method:
                raise ConfigError(
                    f"--set {item!r}: method {name!r} is not in --methods", hint=f"--methods has {', '.join(methods)}"
                )
            per_method[name].append(f"{setting.strip()}={value}")
            continue
        having = [n for n, cls in classes.items() if key in {f.name for f in dataclasses.fields(cls.Config)}]
        if not having:
            known = "; ".join(f"{n}: {describe_settings(cls.Config)}" for n, cls in classes.items())
            raise ConfigError(
                f"--set {item!r}: no method in --methods has a setting {key!r}", hint=f"settings of {known}"
            )
        for n in having:
            per_method[n].append(f"{key}={value}")
    return {name: parse_settings(name, entries) for name, entries in per_method.items()}


def bench(
    methods: Annotated[str, typer.Option("--methods", help="Comma-separated methods (see `agora methods`).")],
    datasets: Annotated[
        str,
        typer.Option(
            "--datasets", help="Comma-separated datasets: registered names, or FILE.jsonl?question=F&answer=F&kind=K."
        ),
    ],
    models: Annotated[
        str | None,
        typer.Option(
            "--models", help="Comma-separated model URIs (default: $AGORAKIT_MODEL or llamacpp:gemma-3-270m)."
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Samples per dataset (a seeded subsample; default all).")
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency",
            min=1,
            help="Samples in flight at once (default 1, with --engine ray one per worker; raise it for API servers).",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the subsample.")] = 0,
    settings_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="[METHOD.]KEY=VALUE",
            help="A method setting (repeatable): llm_debate.rounds=2, or rounds=2 for every method that has it.",
        ),
    ] = None,
    max_tokens: Annotated[
        int | None, typer.Option("--max-tokens", min=1, help="Cap every model call's output tokens.")
    ] = None,
    judge: Annotated[
        str | None, typer.Option("--judge", help="Also have this model judge each answer (kept apart).")
    ] = None,
    db: Annotated[
        Path | None,
        typer.Option("--db", dir_okay=False, help=BENCH_DB_HELP),
    ] = None,
    retry_errors: Annotated[
        bool, typer.Option("--retry-errors", help="Run again the samples recorded as errors.")
    ] = False,
    trace: Annotated[bool, typer.Option("--trace/--no-trace", help="Write each run to the trace store.")] = True,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            min=0.1,
            help="Seconds one model call may take in all, retries and backoff included (not per attempt).",
        ),
    ] = 300.0,
    engine: Annotated[
        str,
        typer.Option("--engine", help="inprocess, or ray: the samples on Ray actors (pip install 'agorakit[ray]')."),
    ] = "inprocess",
    address: Annotated[
        str | None, typer.Option("--address", help="With --engine ray: a cluster (host:port), else a local one.")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            help="With --engine ray: actors, each with its own models (default: one per CPU).",
        ),
    ] = None,
) -> None:
    """Run every method on every dataset with every model; one stored row per sample and configuration.

    Rerun the same command to resume: rows already in the database are skipped.

    A row's key is (dataset, sample id, method, config hash, model); see docs/eval-bench.md.

    A method error on one sample is recorded as an error row and the run goes on.

    With --engine ray the samples run on Ray actors and this process writes every row, so resuming works the same.
    """
    from agorakit.cli.tables import print_table, summary_grid
    from agorakit.eval.grid import GridSpec, configuration, jobs, load_samples
    from agorakit.eval.metrics import summarize
    from agorakit.eval.results import ResultsStore, default_db_path
    from agorakit.eval.runner import ENGINES, run_grid
    from agorakit.models import resolve_model

    if engine not in ENGINES:
        raise ConfigError(f"--engine {engine!r}: no such engine", hint=f"use one of {', '.join(ENGINES)}")
    if engine != "ray" and (address is not None or workers is not None):
        raise ConfigError("--address and --workers need --engine ray")
    on_ray = engine == "ray"
    method_names = _names(methods, "--methods")
    overrides = split_settings(settings_ or [], method_names)
    model_uris = _names(models, "--models") if models is not None else [settings.default_model()]
    spec = GridSpec(
        methods=[(name, overrides[name]) for name in method_names],
        datasets=_names(datasets, "--datasets"),
        models=model_uris,
        limit=limit,
        seed=seed,
        concurrency=concurrency,
        max_tokens=max_tokens,
        judge=judge,
        retry_errors=retry_errors,
        trace=trace,
        timeout=timeout,
        engine=engine,
        address=address,
        workers=workers,
    )
    configurations = [configuration(name, config, max_tokens) for name, config in spec.methods]
    samples = load_samples(spec.datasets, limit, seed)
    keys = {job.key for job in jobs(configurations, samples, model_uris)}
    path = db if db is not None else default_db_path()
    probe = Console()
    # Piped output gets room for the summary table's columns; a terminal keeps its width.
    console = Console(soft_wrap=True, highlight=False, width=None if probe.is_terminal else max(probe.width, 120))
    with ResultsStore(path) as store:
        backends = {}
        for uri in dict.fromkeys([*model_uris, *([judge] if judge else [])]):
            backend = resolve_model(uri)  # a bad URI fails here, before any worker starts
            if on_ray:
                continue  # each worker loads its own
            backends[uri] = backend
            preload = getattr(backend, "load", None)
            if callable(preload):
                with console.status(f"Loading {uri} …", spinner="dots"):
                    preload()
        with progress_bar(console) as progress:
            outcome = asyncio.run(run_grid(spec, store, on_progress=_Bar(progress), backends=backends, samples=samples))
        rows = [row for row in store.rows(models=model_uris, methods=method_names) if row.key in keys]
    print_table(console, summary_grid(summarize(rows)))
    console.print(
        f"{outcome.done} sample(s) run now ({outcome.errors} error(s)), {outcome.skipped} already done · "
        f"results in [bold]{escape(str(path))}[/bold]"
    )
    console.print(f"next: [bold]agora report --db {escape(str(path))}[/bold]")


def progress_bar(console: Console, unit: str = "") -> Progress:
    """The commands' progress bar: done of total (``unit``), the time left, and a status field."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(f"{unit}, ETA" if unit else "ETA"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
    )


class _Bar:
    """The progress callback: the bar counts skipped rows as done, the status line shows the accuracy so far."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: TaskID | None = None

    def __call__(self, live: GridOutcome) -> None:
        accuracy = "acc —" if live.accuracy is None else f"acc {live.accuracy:.1%} ({live.correct}/{live.completed})"
        status = f"{accuracy} · {live.errors} error(s)"
        if live.last is not None:
            key = live.last.key
            mark = "error" if live.last.status == "error" else ("✓" if live.last.correct else "✗")
            status += f" · {escape(key.method)} {escape(key.dataset)}/{escape(key.sample_id)} {mark}"
        if self.task is None:
            # Skipped rows start the bar rather than advance it, so they do not count in the ETA's speed.
            self.task = self.progress.add_task("bench", total=live.total, completed=live.completed, status=status)
        else:
            self.progress.update(self.task, completed=live.completed, status=status)
