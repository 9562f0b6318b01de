"""How well the embedded agent answers simple tool questions, as `agora run` sets it up.

    .venv/bin/python bench/embedded_agent.py [--seed 2026] [--per-category 13] [--baseline REV] [--variant URI ...]

Generates ``per-category`` questions of each kind (integer arithmetic,
negative results, decimals, division, large numbers, worded operations, the
time in a named place, a user-defined ``word_count`` tool) from ``--seed``
(see ``agorakit.eval.tool_questions``), runs each through the agent that
``agora run`` builds by default (the user-tool questions get ``word_count``
beside the built-in tools), and prints per category: exact answers, wrong-tool
calls, echoed questions, steps and seconds per question.

``--baseline REV`` runs the same questions on another revision of agorakit
(checked out into a temporary git worktree) in the same run, and
``--variant URI`` adds model URIs (e.g. ``llamacpp:gemma-3-270m?n_ctx=4096``)
to show what each change contributed. Each variant runs in its own process,
one after another, so they never compete for the cores.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def word_count(text: str) -> int:
    """Count the words in a text.

    Args:
        text: The text to count.
    """
    return len(text.split())


def build_agent(model: str, with_word_count: bool) -> Any:
    """The agent `agora run` builds, on whichever agorakit revision is importable."""
    from agorakit.tools import builtin_tools, tool

    tools = [*builtin_tools(), tool(word_count)] if with_word_count else builtin_tools()
    try:
        from agorakit.cli.run_cmd import default_agent
    except ImportError:  # a revision before default_agent: what its `agora run` did
        from agorakit.agents import Agent
        from agorakit.kernel import Kernel
        from agorakit.models import resolve_model

        backend = resolve_model(model)
        return Agent("assistant", backend, tools=tools, max_steps=6, tool_first=True, kernel=Kernel(timeout=300.0))
    return default_agent(model, tools=tools)


def worker(questions_file: Path, model: str, out: Path) -> None:
    """Run every question in-process (one model load) and write one JSON record per question."""
    import asyncio
    from datetime import UTC, datetime

    os.environ.setdefault("AGORAKIT_TRACE", "0")
    questions = json.loads(questions_file.read_text())
    records = []
    for question in questions:
        agent = build_agent(model, with_word_count=question["tool"] == "word_count")
        started = time.perf_counter()
        try:
            result = asyncio.run(agent.run(question["text"]))
            output, steps, stop = result.output, result.steps, result.stop_reason
            called = [call.name for m in result.messages if m.role == "assistant" for call in m.tool_calls]
            calls = [
                {"name": call.name, "arguments": call.arguments}
                for m in result.messages
                if m.role == "assistant"
                for call in m.tool_calls
            ]
        except Exception as error:  # a crash is a wrong answer, with its reason kept
            output, steps, stop, called, calls = f"<{type(error).__name__}: {error}>", 0, "error", [], []
        records.append(
            {
                **question,
                "output": output,
                "steps": steps,
                "stop": stop,
                "tools_called": called,
                "calls": calls,
                "seconds": time.perf_counter() - started,
                "finished_at": datetime.now(UTC).isoformat(),
            }
        )
        print(f"{question['category']:>10} {question['text'][:50]!r:54} -> {str(output)[:60]!r}", file=sys.stderr)
    out.write_text(json.dumps(records, indent=1))


def run_variant(label: str, model: str, questions_file: Path, src: Path) -> list[dict[str, Any]]:
    out = questions_file.with_name(f"{label.replace('/', '_').replace(':', '_')}.json")
    env = {**os.environ, "PYTHONPATH": str(src)}
    command = [sys.executable, __file__, "--worker", str(questions_file), "--model", model, "--out", str(out)]
    print(f"running {label} ({model}) ...", file=sys.stderr)
    subprocess.run(command, env=env, check=True)
    records: list[dict[str, Any]] = json.loads(out.read_text())
    return records


def summarise(label: str, records: list[dict[str, Any]]) -> list[list[str]]:
    from datetime import datetime

    from agorakit.eval.tool_questions import ToolQuestion, score

    by_category: dict[str, list[tuple[Any, dict[str, Any]]]] = defaultdict(list)
    for record in records:
        question = ToolQuestion(record["category"], record["text"], record["tool"], record["expected"])
        now = datetime.fromisoformat(record["finished_at"]) if "finished_at" in record else None
        verdict = score(question, record["output"], record["tools_called"], now=now)
        by_category[record["category"]].append((verdict, record))
        by_category["overall"].append((verdict, record))
    rows = []
    for category, items in by_category.items():
        n = len(items)
        rows.append(
            [
                label,
                category,
                str(n),
                f"{sum(v.exact for v, _ in items) / n:.0%}",
                f"{sum(v.wrong_tool for v, _ in items) / n:.0%}",
                f"{sum(v.echo for v, _ in items) / n:.0%}",
                f"{sum(r['steps'] for _, r in items) / n:.1f}",
                f"{sum(r['seconds'] for _, r in items) / n:.1f}",
            ]
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--per-category", type=int, default=13)
    parser.add_argument("--categories", default="", help="comma-separated subset of the categories")
    parser.add_argument("--model", default="llamacpp:gemma-3-270m")
    parser.add_argument("--baseline", help="a git revision to run the same questions on, e.g. 95d69cc")
    parser.add_argument("--variant", action="append", default=[], help="another model URI to run (repeatable)")
    parser.add_argument("--keep", type=Path, help="a folder to keep every answer in (JSON per variant)")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.model, args.out)
        return

    from rich.console import Console
    from rich.table import Table

    from agorakit.eval.tool_questions import CATEGORIES, tool_questions

    categories = [c for c in args.categories.split(",") if c] or list(CATEGORIES)
    questions = tool_questions(args.seed, args.per_category, categories)
    folder = args.keep or Path(tempfile.mkdtemp(prefix="embedded-agent-"))
    folder.mkdir(parents=True, exist_ok=True)
    questions_file = folder / "questions.json"
    questions_file.write_text(json.dumps([dataclasses.asdict(q) for q in questions]))
    variants: list[tuple[str, str, Path]] = []
    worktree: Path | None = None
    if args.baseline:
        worktree = Path(tempfile.mkdtemp(prefix="agorakit-baseline-"))
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(worktree), args.baseline], check=True
        )
        variants.append((f"before ({args.baseline})", args.model, worktree / "src"))
    variants.append(("after", args.model, ROOT / "src"))
    variants += [(uri.split("?", 1)[-1] if "?" in uri else uri, uri, ROOT / "src") for uri in args.variant]
    try:
        table = Table(title=f"embedded agent: {len(questions)} questions, seed {args.seed}", title_justify="left")
        for column in ("variant", "category", "n", "exact", "wrong tool", "echo", "steps/q", "s/q"):
            table.add_column(column, justify="left" if column in ("variant", "category") else "right")
        for label, model, src in variants:
            for row in summarise(label, run_variant(label, model, questions_file, src)):
                table.add_row(*row)
            table.add_section()
        Console(width=120).print(table)
        print(f"answers kept in {folder}")
    finally:
        if worktree is not None:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(worktree)], check=False)


if __name__ == "__main__":
    main()
