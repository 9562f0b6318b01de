"""``agora session``: list, show and delete the conversations kept by ``agent.run(..., session=...)``."""

from __future__ import annotations

import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

app = typer.Typer(no_args_is_help=True)


def _when(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


@app.command("list")
def list_sessions() -> None:
    """The sessions, most recently used first: messages kept, how many are summarised, last use."""
    from agorakit.memory import SessionStore

    console = Console(soft_wrap=True)
    sessions = SessionStore().list()
    if not sessions:
        console.print("no sessions yet (agent.run(task, session='NAME') starts one)")
        return
    for info in sessions:
        console.print(
            f"{escape(info.id)}  {info.messages} message(s), {info.summarised} summarised  "
            f"[dim]last used {_when(info.updated)}[/dim]",
            highlight=False,
        )


@app.command("show")
def show(session_id: Annotated[str, typer.Argument(help="The session's id.")]) -> None:
    """The session's summary (of its compacted turns) and the messages after it."""
    from agorakit.memory import SessionStore

    console = Console(soft_wrap=True)
    store = SessionStore()
    if session_id not in {info.id for info in store.list()}:
        console.print(f"[red]error:[/red] no session {escape(session_id)} (agora session list shows them)")
        raise typer.Exit(1)
    conversation = store.load(session_id)
    if conversation.summary:
        console.print(f"[bold]summary[/bold]: {escape(conversation.summary)}", highlight=False)
    for message in conversation.messages:
        text = message.content or ""
        if message.tool_calls:
            text = ", ".join(f"{c.name}({c.arguments})" for c in message.tool_calls) + (f" {text}" if text else "")
        who = message.name if message.role == "tool" else message.role
        console.print(f"[bold]{escape(str(who))}[/bold]: {escape(text)}", highlight=False)


@app.command("delete")
def delete(session_id: Annotated[str, typer.Argument(help="The session's id.")]) -> None:
    """Forget a session and its messages."""
    from agorakit.memory import SessionStore

    console = Console(soft_wrap=True)
    if not SessionStore().delete(session_id):
        console.print(f"[red]error:[/red] no session {escape(session_id)}")
        raise typer.Exit(1)
    console.print(f"deleted session {escape(session_id)}")
