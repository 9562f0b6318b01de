"""``agora run``: one agent with the built-in tools on one task (or, with ``--method``, a multi-agent method)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from agorakit.cli.methods_cmd import METHOD_CALL_CAP
from agorakit.core import settings

if TYPE_CHECKING:
    from agorakit.agents import Agent, RunResult
    from agorakit.models.base import ChatModel
    from agorakit.tools import Tool


def run(
    task: Annotated[str, typer.Argument(help="What the agent should do.")],
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model URI (default: llamacpp:gemma-3-270m or $AGORAKIT_MODEL).")
    ] = None,
    max_steps: Annotated[int, typer.Option("--max-steps", min=1, help="Most model calls the agent may make.")] = 6,
    call_budget: Annotated[
        int | None, typer.Option("--call-budget", min=1, help="Run budget: most model calls in the whole run.")
    ] = None,
    token_budget: Annotated[
        int | None, typer.Option("--token-budget", min=1, help="Run budget: most tokens (in + out) in the whole run.")
    ] = None,
    max_tokens: Annotated[
        int | None,
        typer.Option(
            "--max-tokens",
            min=1,
            help="Cap every model call's output tokens (default: the backend's; with --method on an in-process "
            f"model, {METHOD_CALL_CAP}).",
        ),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            min=0.1,
            help="Seconds one model call may take in all, retries and backoff included (not per attempt).",
        ),
    ] = 300.0,
    trace: Annotated[bool, typer.Option("--trace/--no-trace", help="Write the run to the trace store.")] = True,
    tool_first: Annotated[
        bool | None,
        typer.Option(
            "--tool-first/--no-tool-first",
            help="Make the first step call a tool (default: on for the embedded llamacpp models, off otherwise).",
        ),
    ] = None,
    stream: Annotated[
        bool, typer.Option("--stream", help="Print the answer as it is generated, and each tool call as it runs.")
    ] = False,
    method: Annotated[
        str | None, typer.Option("--method", help="Run a multi-agent method instead (see `agora methods`).")
    ] = None,
    settings_: Annotated[
        list[str] | None,
        typer.Option("--set", metavar="KEY=VALUE", help="A setting of the --method (repeatable), e.g. --set rounds=2."),
    ] = None,
    role_models: Annotated[
        list[str] | None,
        typer.Option("--role-model", metavar="ROLE=URI", help="A model for one role of the --method (repeatable)."),
    ] = None,
    policy: Annotated[
        Path | None,
        typer.Option(
            "--policy",
            exists=True,
            dir_okay=False,
            help="A policy file checked before every tool call (see docs/policies.md). Calls it sends to a "
            "human ('ask') are asked on the terminal, or, with --durability, pause the run for `agora approve`.",
        ),
    ] = None,
    durability: Annotated[
        str | None,
        typer.Option(
            "--durability",
            help="Journal the run so `agora resume RUN_ID` can finish it if this process dies: sync (each step "
            "on disk before the next), async (within ~50 ms) or exit (when the run ends).",
        ),
    ] = None,
) -> None:
    """Run one agent with the built-in tools (calculator, current_time) and print its answer.

    Exit status:

    0  the agent gave a final answer.

    3  no final answer: all --max-steps used, a repeated tool call, or the --call-budget/--token-budget spent.

    1  an error, such as a bad model URI or an unreachable server (one line on stderr; --debug for the traceback).

    2  a usage error, such as an empty task.

    With --method, the method runs instead (--max-steps and --tool-first do not apply);
    exit status 3 then means no final answer could be extracted.
    """
    if not task.strip():
        raise typer.BadParameter("the task is empty; say what to do, e.g. 'What is 17 * 23?'", param_hint="TASK")
    if durability is not None and durability not in ("sync", "async", "exit"):
        raise typer.BadParameter(f"{durability!r}: use sync, async or exit", param_hint="--durability")
    if method is not None:
        from agorakit.cli.methods_cmd import run_method

        code = run_method(
            task,
            method,
            model=model,
            settings=settings_ or [],
            role_models=role_models or [],
            timeout=timeout,
            call_budget=call_budget,
            token_budget=token_budget,
            max_tokens=max_tokens,
            trace=trace,
            durability=durability,
        )
        if code:
            raise typer.Exit(code)
        return
    if settings_ or role_models:
        raise typer.BadParameter("--set and --role-model need --method", param_hint="--set/--role-model")
    if durability is not None and stream:
        raise typer.BadParameter("--stream does not journal the run yet; drop one of them", param_hint="--durability")
    from agorakit.models import resolve_model

    console = Console(soft_wrap=True)  # long answers and ids are not hard-wrapped when piped
    backend = resolve_model(model or settings.default_model())
    preload = getattr(backend, "load", None)
    if callable(preload):
        with console.status(f"Loading {backend.uri} …", spinner="dots"):
            preload()
    options: dict[str, Any] = {
        "max_steps": max_steps,
        "tool_first": tool_first,
        "max_tokens": max_tokens,
        "timeout": timeout,
        "call_budget": call_budget,
        "token_budget": token_budget,
        "trace": trace,
        "policy": str(policy.resolve()) if policy is not None else None,
    }
    agent = default_agent(backend, **options, ask_on_terminal=durability is None)
    if durability is not None:
        from agorakit.agents.agent import run_agent
        from agorakit.agents.durable import start_journal
        from agorakit.core.ids import new_run_id

        journal = start_journal(agent, new_run_id(), durability, task, origin={"model": backend.uri, **options})
        console.print(f"[dim]run id: {journal.run_id} (journaled: agora resume {journal.run_id})[/dim]")
        with console.status(f"Running on {backend.uri} …", spinner="dots"):
            result = asyncio.run(run_agent(agent, task, journal=journal)).result
        show_result(console, result, trace=trace)
        return
    if stream:
        result, shown = asyncio.run(_stream(agent, task, console))
    else:
        with console.status(f"Running on {backend.uri} …", spinner="dots"):
            result = asyncio.run(agent.run(task))
        shown = False
    show_result(console, result, trace=trace, shown=shown)


def show_result(console: Console, result: RunResult[Any], *, trace: bool, shown: bool = False) -> None:
    """Print the answer (unless ``shown`` already), the usage line and the run id; exit 3 without an answer."""
    if result.output is not None:
        if not shown:
            console.print(result.output, markup=False, highlight=False)
    else:
        console.print(f"[yellow]no final answer:[/yellow] {escape(result.explanation)}", highlight=False)
        if result.error is not None and result.stop_reason in ("needs_confirmation", "awaiting_approval"):
            console.print(f"[yellow]{escape(result.error.message)}[/yellow]", highlight=False)
            console.print(f"[dim]{escape(result.error.hint)}[/dim]", highlight=False)
    usage = result.usage
    console.print(
        f"[dim]{result.steps} step(s) · {usage.calls} model call(s) · {usage.input_tokens} in / "
        f"{usage.output_tokens} out tokens · {usage.latency_s:.2f}s model time · ${usage.cost_usd:.4f}[/dim]",
        highlight=False,
    )
    if trace:
        console.print(f"run id: [bold]{result.run_id}[/bold]   (agora trace show {result.run_id})", highlight=False)
    if result.stop_reason != "final_answer":
        raise typer.Exit(3)


async def _stream(agent: Agent, task: str, console: Console) -> tuple[RunResult[str], bool]:
    """Run ``agent`` printing text as it comes and tool calls as they run; the result,
    and whether its answer was printed already (streamed in full)."""
    from agorakit.core.stream import RunFinished, TextDelta, ToolCallFinished, ToolCallStarted

    text: list[str] = []
    async for event in agent.run_stream(task):
        if isinstance(event, TextDelta):
            text.append(event.text)
            console.file.write(event.text)
            console.file.flush()
        elif isinstance(event, ToolCallStarted):
            arguments = ", ".join(f"{k}={v!r}" for k, v in event.call.arguments.items())
            console.print(f"[dim]→ {escape(event.call.name)}({escape(arguments)})[/dim]", highlight=False)
            text.clear()  # text before a tool call is not the answer
        elif isinstance(event, ToolCallFinished):
            console.print(f"[dim]← {escape(event.content[:200])}[/dim]", highlight=False)
        elif isinstance(event, RunFinished):
            result: RunResult[str] = event.result
    shown = bool(text) and "".join(text).strip() == (result.output or "").strip()
    if text:
        console.file.write("\n")
    return result, shown


def default_agent(
    model: str | ChatModel,
    *,
    tools: Sequence[Tool[..., Any]] | None = None,
    max_steps: int = 6,
    tool_first: bool | None = None,
    max_tokens: int | None = None,
    timeout: float = 300.0,
    call_budget: int | None = None,
    token_budget: int | None = None,
    trace: bool = True,
    policy: str | None = None,
    ask_on_terminal: bool = False,
) -> Agent:
    """The agent `agora run` runs: the built-in tools (or ``tools``), and a
    first step that must call a tool on the embedded llamacpp models.

    Benchmarks and tests build it here so they measure exactly what users run.
    ``policy`` is a policy file's path; its ``ask`` calls are asked on the terminal
    when ``ask_on_terminal``, and otherwise pause a durable run for ``agora approve``.
    """
    from agorakit.agents import Agent, ReAct
    from agorakit.kernel import Budget, Kernel
    from agorakit.models import resolve_model
    from agorakit.models.base import Sampling
    from agorakit.tools import builtin_tools

    gate = None
    if policy is not None:
        from agorakit.policy import Policy, PolicyGate
        from agorakit.policy.approval import cli_approver

        names = [t.name for t in (builtin_tools() if tools is None else tools)]
        gate = PolicyGate(Policy.load(policy, known_tools=names), approver=cli_approver if ask_on_terminal else None)
    backend = resolve_model(model) if isinstance(model, str) else model
    # The embedded models need the protocol spelled out: call a tool first, then answer.
    small = backend.provider == "llamacpp"
    return Agent(
        "assistant",
        backend,
        tools=builtin_tools() if tools is None else tools,
        max_steps=max_steps,
        strategy=ReAct(tool_first=small if tool_first is None else tool_first, answer_after_tools=small),
        sampling=Sampling(max_tokens=max_tokens),
        kernel=Kernel(timeout=timeout),
        budget=Budget(max_calls=call_budget, max_tokens=token_budget),
        trace=None if trace else False,
        policy=gate,
    )
