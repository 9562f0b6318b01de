"""``agora security``: measure what the policies stop and what they cost.

``agora security agentdojo`` replays AgentDojo's ground truths (no model)
through the tool dispatcher with each suite's policy and without one: by
default every user task × injection task pair (AgentDojo's own protocol:
utility, utility under attack, attack success rate per suite), or with
``--mode tasks`` each task on its own (utility preserved, attacks stopped).
AgentDojo is the ``security`` extra; it is imported only when the command runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from agorakit.cli.agentdojo_report import pairs_notes, pairs_table, tasks_notes, tasks_table
from agorakit.cli.tables import print_table
from agorakit.core.errors import ConfigError

app = typer.Typer(
    name="security",
    help="Measure privilege control against prompt-injection benchmarks.",
    no_args_is_help=True,
)


MODES = ("pairs", "tasks")


@app.callback()
def security() -> None:
    """Measure privilege control against prompt-injection benchmarks."""


@app.command("agentdojo")
def agentdojo_command(
    mode: Annotated[
        str,
        typer.Option(
            "--mode",
            "-m",
            help="pairs: every user task × injection task, as AgentDojo scores (default); "
            "tasks: each user and injection task on its own.",
        ),
    ] = "pairs",
    suite: Annotated[
        list[str] | None,
        typer.Option("--suite", "-s", help="A suite to replay (repeatable): workspace, travel, banking, slack."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON instead of a table.")] = False,
    details: Annotated[
        bool,
        typer.Option(
            "--details",
            help="Also list, per pair, every attack let through or utility lost (tasks: every denied call of "
            "the user tasks and every attack let through); with --json, every pair or task.",
        ),
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
    """Replay AgentDojo's ground truths through the tool dispatcher, with each suite's policy and without.

    No model is called. In pairs mode (the default), for every user task and
    injection task of a suite, AgentDojo's "important instructions" attack
    asking for the injection task's goal is placed where the user task reads,
    the user task's ground-truth calls run, and right after the first tool
    output showing the injection the injection task's calls run (what a
    hijacked agent does); AgentDojo's own checks then judge the user task's
    utility and the attack's success. In tasks mode, each user task and each
    injection task runs on its own. Injection tasks whose ground truth makes
    no tool call are out of reach of tool policies and counted apart.
    """
    if mode not in MODES:
        raise ConfigError(f"--mode {mode!r}: no such mode", hint=f"use one of {', '.join(MODES)}")
    from agorakit.eval.agentdojo import (
        ATTACK_NAME,
        BenchmarkPairs,
        BenchmarkReplay,
        agentdojo_version,
        replay_benchmark_sync,
        replay_pairs_sync,
    )

    try:
        import agentdojo  # noqa: F401
    except ImportError:
        raise ConfigError(
            "AgentDojo is not installed", hint="pip install 'agorakit[security]' (it pins agentdojo==0.1.35)"
        ) from None

    def replay() -> BenchmarkPairs | BenchmarkReplay:
        run = replay_pairs_sync if mode == "pairs" else replay_benchmark_sync
        return run(suite, benchmark_version=benchmark_version, policy_dir=policies)

    console = Console(highlight=False, soft_wrap=True)
    if as_json:
        result = replay()
        data = result.to_dict(details=details)
        data["mode"] = mode
        data["agentdojo"] = agentdojo_version()
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    what = "user × injection pairs" if mode == "pairs" else "tasks"
    with console.status(f"Replaying AgentDojo ground truths ({what}) …", spinner="dots"):
        result = replay()
    if isinstance(result, BenchmarkPairs):
        print_table(console, pairs_table(result))
        notes = pairs_notes(result, details=details)
        protocol = f"pairing replay, attack {ATTACK_NAME}"
    else:
        print_table(console, tasks_table(result))
        notes = tasks_notes(result, details=details)
        protocol = "tasks replayed alone"
    console.print(
        f"AgentDojo benchmark {result.benchmark_version} (agentdojo {agentdojo_version()}) · "
        f"{protocol}, ground truth, no model · policies: "
        + (escape(str(policies)) if policies else "built-in (agorakit/eval/agentdojo/policies)")
    )
    for line in notes:
        console.print(line)
