"""``agora models``: which backends exist and whether each is ready."""

from __future__ import annotations

import os

from rich.console import Console

from agorakit.cli.tables import Column, Grid, print_table
from agorakit.core import settings


def models() -> None:
    """List model backends and whether the embedded model is assembled."""
    from agorakit.models.llamacpp import EMBEDDED_MODELS, embedded_model_path

    table = Grid(
        [Column("URI", kind="id"), Column("backend", kind="text"), Column("status", kind="text")],
        title="Model backends",
    )
    default = settings.default_model()
    for name in EMBEDDED_MODELS:
        path = embedded_model_path(name, assemble=False)
        ready = f"assembled at {path}" if path.exists() else "not assembled yet (assembled on first use, ~240 MB)"
        marker = "  (default)" if default == f"llamacpp:{name}" else ""
        table.add_row(f"llamacpp:{name}{marker}", "llama.cpp, embedded, CPU", ready)
    table.add_row("llamacpp:/path/to/model.gguf", "llama.cpp, any GGUF", "")
    key = "OPENAI_API_KEY is set" if os.environ.get("OPENAI_API_KEY") else "OPENAI_API_KEY not set"
    table.add_row("openai:MODEL", "OpenAI API", key)
    table.add_row("openai:MODEL@http://HOST:PORT/v1", "any OpenAI-compatible server", "vLLM, Ollama, llama-server, ...")
    table.add_row("scripted:path/to/script.yaml", "deterministic script", "for tests and replay")
    print_table(Console(), table)
    if default != "llamacpp:gemma-3-270m":
        Console().print(f"default model (from AGORAKIT_MODEL): {default}")
