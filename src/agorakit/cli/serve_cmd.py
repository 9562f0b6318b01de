"""``agora serve``: agents and methods over HTTP; ``agora keys``: the keys that may call them."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from agorakit.core import settings

if TYPE_CHECKING:
    from agorakit.server import Entry

keys_app = typer.Typer(no_args_is_help=True)


def serve(
    config: Annotated[
        Path | None, typer.Argument(help="A YAML or Python file naming the entries to serve (see docs/serve.md).")
    ] = None,
    method: Annotated[
        list[str] | None, typer.Option("--method", help="Serve this method (repeatable), e.g. --method llm_debate.")
    ] = None,
    agent: Annotated[
        list[str] | None, typer.Option("--agent", help="Serve an Agent from your code: MODULE:OBJECT (repeatable).")
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model URI for --method and the default agent.")
    ] = None,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on; anything but loopback must be given explicitly.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to listen on.")] = 8000,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="Serve without API keys (refused unless --host is loopback).")
    ] = False,
    cors: Annotated[
        list[str] | None, typer.Option("--cors", help="An origin browsers may call from (repeatable); none by default.")
    ] = None,
    max_body: Annotated[int, typer.Option("--max-body", min=1024, help="Largest request body, in bytes.")] = 1 << 20,
    run_timeout: Annotated[float, typer.Option("--run-timeout", min=0.1, help="Seconds a run may take.")] = 600.0,
    on_disconnect: Annotated[
        str, typer.Option("--on-disconnect", help="A client that leaves mid-run: cancel the run, or continue it.")
    ] = "cancel",
    grace: Annotated[
        float, typer.Option("--grace", min=0.0, help="On SIGTERM, seconds in-flight requests get to finish.")
    ] = 10.0,
    otlp: Annotated[
        str | None,
        typer.Option(
            "--otlp", help="Also export every run's spans to this OTLP/HTTP collector, e.g. http://127.0.0.1:4318."
        ),
    ] = None,
) -> None:
    """Serve agents and methods: OpenAI-compatible /v1/chat/completions, a runs API, A2A, MCP and
    a web trace viewer at /ui. Every route but /health needs an API key (``agora keys create``)."""
    from agorakit.core.errors import ConfigError
    from agorakit.server.config import as_entry, entries_for, import_object, load_config

    if on_disconnect not in ("cancel", "continue"):
        raise typer.BadParameter(f"{on_disconnect!r}: use cancel or continue", param_hint="--on-disconnect")
    loopback = _is_loopback(host)
    if no_auth and not loopback:
        raise typer.BadParameter(
            "--no-auth is only for a loopback --host (127.0.0.1, ::1, localhost)", param_hint="--no-auth"
        )
    console = Console(stderr=True)
    try:
        if otlp is not None:
            from agorakit.trace.setup import configure_otlp

            console.print(f"[dim]exporting spans to {configure_otlp(otlp)}[/dim]")
        entries = []
        if config is not None:
            entries += load_config(config)
        entries += entries_for(method or [], model)
        entries += [as_entry(import_object(target)) for target in agent or []]
        if not entries:
            from agorakit.server.config import EntrySpec, entry_from_spec

            entries = [entry_from_spec(EntrySpec(name="assistant", model=model))]
    except ConfigError as error:
        console.print(f"[red]error:[/red] {error.message}")
        if error.hint:
            console.print(f"[dim]{error.hint}[/dim]")
        raise typer.Exit(2) from None
    _serve(
        entries,
        host=host,
        port=port,
        auth=not no_auth,
        cors=tuple(cors or ()),
        max_body=max_body,
        run_timeout=run_timeout,
        on_disconnect=on_disconnect,
        grace=grace,
        console=console,
    )


def _serve(
    entries: list[Entry],
    *,
    host: str,
    port: int,
    auth: bool,
    cors: tuple[str, ...],
    max_body: int,  # type: ignore[type-arg]
    run_timeout: float,
    on_disconnect: str,
    grace: float,
    console: Console,
) -> None:
    from agorakit.server import KeyStore, ServerSettings, create_app
    from agorakit.server.host import run_app

    keys = KeyStore(settings.server_db_path()) if auth else None
    if keys is not None and keys.count() == 0:
        key = keys.create("default")
        console.print(f"No API key existed: created key [bold]default[/bold]: {key}")
        console.print(
            "[dim]It is shown only now. `agora keys create NAME` makes more; `agora keys list` shows them.[/dim]"
        )
    server_settings = ServerSettings(
        auth=auth,
        cors_origins=cors,
        max_body_bytes=max_body,
        run_timeout=run_timeout,
        on_disconnect="continue" if on_disconnect == "continue" else "cancel",
        grace_seconds=grace,
        trace_db=settings.trace_db_path(),
        bench_db=settings.bench_db_path(),
    )
    app = create_app(entries, server_settings, keys=keys)
    shown = f"[{host}]" if ":" in host else host
    console.print(f"Serving {', '.join(e.name for e in entries)} at http://{shown}:{port}")
    console.print(f"[dim]OpenAI base URL: http://{shown}:{port}/v1 · viewer: http://{shown}:{port}/ui[/dim]")
    run_app(app, host=host, port=port, grace_seconds=grace)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@keys_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="A name for the key (who or what uses it).")],
    rpm: Annotated[int | None, typer.Option("--rpm", min=1, help="Most requests a minute.")] = None,
    calls: Annotated[int | None, typer.Option("--calls", min=1, help="Budget: most requests in all.")] = None,
    tokens: Annotated[
        int | None, typer.Option("--tokens", min=1, help="Budget: most tokens (in + out) in all.")
    ] = None,
    cost: Annotated[float | None, typer.Option("--cost", min=0.0, help="Budget: most cost in USD in all.")] = None,
) -> None:
    """Create an API key and print it (the only time it is shown; only its hash is kept)."""
    from agorakit.server.keys import KeyStore

    store = KeyStore(settings.server_db_path())
    try:
        key = store.create(name, rpm=rpm, max_calls=calls, max_tokens=tokens, max_cost=cost or None)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="NAME") from None
    typer.echo(key)


@keys_app.command("list")
def list_keys() -> None:
    """The keys, their limits and what each has spent (never the keys themselves)."""
    from agorakit.server.keys import KeyStore

    records = KeyStore(settings.server_db_path()).list()
    table = Table("name", "status", "rpm", "calls", "tokens", "cost (USD)")
    for r in records:
        table.add_row(
            r.name,
            "revoked" if r.revoked else "live",
            str(r.rpm or "-"),
            f"{r.calls}" + (f" / {r.max_calls}" if r.max_calls else ""),
            f"{r.tokens}" + (f" / {r.max_tokens}" if r.max_tokens else ""),
            f"{r.cost:.4f}" + (f" / {r.max_cost:g}" if r.max_cost else ""),
        )
    Console().print(table if records else "no keys yet: `agora keys create NAME` makes one")


@keys_app.command("revoke")
def revoke(name: Annotated[str, typer.Argument(help="The key's name.")]) -> None:
    """Revoke a key: requests with it get 401 from then on."""
    from agorakit.server.keys import KeyStore

    if not KeyStore(settings.server_db_path()).revoke(name):
        raise typer.BadParameter(f"no live key is named {name!r}", param_hint="NAME")
    typer.echo(f"revoked {name}")
