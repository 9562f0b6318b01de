"""``agora security``: measure what the policies stop and what they cost.

``agora security agentdojo`` replays AgentDojo's ground truths (no model)
through the tool dispatcher with each suite's policy and without one, and
prints utility preserved and attacks stopped per suite. AgentDojo is the
``security`` extra; it is imported only when the command runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from agorakit.cli.tables import Column, Grid, print_table
from agorakit.core.errors import ConfigError

if TYPE_CHECKING:
    from agorakit.eval.agentdojo import BenchmarkReplay, Ratio, SuiteReplay

app = typer.Typer(
    name="security",
    help="Measure privilege control against prompt-injection benchmarks.",
    no_args_is_help=True,
)

TARGET_PERCENT = 95.0
"""Issue 3's target for both utility preserved and attacks stopped."""


@app.callback()
def security() -> None:
    """Measure privilege control against prompt-injection benchmarks."""


@app.command("agentdojo")
def agentdojo_command(
    suite: Annotated[
        list[str] | None,
        typer.Option("--suite", "-s", help="A suite to replay (repeatable): workspace, travel, banking, slack."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON instead of a table.")] = False,
    details: Annotated[
        bool,
        typer.Option("--details", help="Also list every denied call of the user tasks and every attack let through."),
    ] = False,
    policies: Annotated[
        Path | None,
        typer.Option(
            "--policies",
            help="A folder of <suite>.yaml policies to evaluate instead of the built-in ones.",
            file_okay=False,
            exists=True,
        ),
    ] = None,
    benchmark_version: Annotated[
        str | None, typer.Option("--benchmark-version", help="AgentDojo benchmark version (default: the newest).")
    ] = None,
) -> None:
    """Replay AgentDojo's tasks through the tool dispatcher, with each suite's policy and without.

    No model is called: every user task's ground-truth calls run on a fresh
    environment and AgentDojo's own utility check judges the result; every
    injection task's ground-truth calls (the attacker's goal) run the same
    way and AgentDojo's security check says whether the attack succeeded.
    Injection tasks whose ground truth makes no tool call are out of reach of
    tool policies and counted apart.
    """
    from agorakit.eval.agentdojo import agentdojo_version, replay_benchmark_sync

    try:
        import agentdojo  # noqa: F401
    except ImportError:
        raise ConfigError(
            "AgentDojo is not installed", hint="pip install 'agorakit[security]' (it pins agentdojo==0.1.35)"
        ) from None

    console = Console(highlight=False, soft_wrap=True)
    if as_json:
        result = replay_benchmark_sync(suite, benchmark_version=benchmark_version, policy_dir=policies)
        data = result.to_dict(details=details)
        data["agentdojo"] = agentdojo_version()
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    with console.status("Replaying AgentDojo ground truths …", spinner="dots"):
        result = replay_benchmark_sync(suite, benchmark_version=benchmark_version, policy_dir=policies)
    print_table(console, results_table(result))
    console.print(
        f"AgentDojo benchmark {result.benchmark_version} (agentdojo {agentdojo_version()}) · "
        "ground-truth replay, no model · policies: "
        + (escape(str(policies)) if policies else "built-in (agorakit/eval/agentdojo/policies)")
    )
    for line in _summary_lines(result, details=details):
        console.print(line)


def results_table(result: BenchmarkReplay) -> Grid:
    """Per suite and overall: utility and attacks stopped, without and with the policy.

    A narrow terminal drops the counts first; the percentages stay.
    """
    grid = Grid(
        [
            Column("Suite", style="bold"),
            Column("User tasks", justify="right", drop=3),
            Column("Utility (no policy)", justify="right"),
            Column("Utility preserved (policy)", justify="right"),
            Column("Injection tasks", justify="right", drop=2),
            Column("Attacks stopped (no policy)", justify="right"),
            Column("Attacks stopped (policy)", justify="right"),
            Column("Out of reach", justify="right", drop=1),
        ],
        title="AgentDojo: tool policies vs. prompt injection (ground-truth replay)",
    )
    for index, item in enumerate(result.suites):
        grid.add_row(
            item.suite,
            str(len(item.user_policy)),
            str(item.utility_baseline),
            _judged(item.utility_preserved),
            str(len(item.injection_policy)),
            str(item.attacks_stopped_baseline),
            _judged(item.attacks_stopped),
            str(len(item.out_of_reach)),
            end_section=index == len(result.suites) - 1,
        )
    grid.add_row(
        "Overall",
        str(sum(len(s.user_policy) for s in result.suites)),
        str(result.utility_baseline),
        _judged(result.utility_preserved),
        str(sum(len(s.injection_policy) for s in result.suites)),
        str(result.attacks_stopped_baseline),
        _judged(result.attacks_stopped),
        str(result.out_of_reach),
        style="bold",
    )
    return grid


def _judged(ratio: Ratio) -> Text:
    percent = ratio.percent
    if percent is None:
        return Text(str(ratio))
    return Text(str(ratio), style="green" if percent >= TARGET_PERCENT else "yellow")


def _summary_lines(result: BenchmarkReplay, *, details: bool) -> list[str]:
    lines = [
        "Utility preserved: user tasks whose AgentDojo utility check holds with the policy. "
        "Attacks stopped: injection tasks (with at least one tool call) whose security check fails "
        "with the policy. Out of reach: injection tasks with no tool call, not counted above.",
    ]
    for item in result.suites:
        lost = ", ".join(r.task_id for r in item.utility_lost)
        through = ", ".join(r.task_id for r in item.attacks_through)
        if lost:
            lines.append(f"[yellow]{item.suite}[/yellow]: utility lost in {lost}")
        if through:
            lines.append(f"[yellow]{item.suite}[/yellow]: attacks not stopped: {through}")
        if details:
            lines.extend(_detail_lines(item))
    return lines


def _detail_lines(item: SuiteReplay) -> list[str]:
    lines: list[str] = []
    for run in item.user_policy:
        for denied in run.denied:
            arguments = json.dumps(denied.arguments, ensure_ascii=False, default=str)
            state = "utility held" if run.success else "utility lost"
            lines.append(
                f"  {item.suite} {run.task_id} ({state}): {escape(denied.tool)} {escape(arguments)} → "
                f"{escape(denied.reason)}"
            )
    for run in item.attacks_through:
        lines.append(
            f"  {item.suite} {run.task_id}: attack succeeded ({len(run.denied)} of {run.calls} call(s) denied)"
        )
    return lines
