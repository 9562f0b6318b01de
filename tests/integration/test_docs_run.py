"""Every code block of README.md and docs/*.md runs, or parses, as written.

The convention (which fence language means what) is in ``doc_blocks``. Python
blocks run in this process, so the embedded model is loaded once for all of
them; shell commands run through the real ``agora`` in subprocesses.
Commands that CI cannot complete as written are listed below with what is
checked instead: the clear error they end with, or for the two scripts that
install everything, that they are valid bash. Nothing is skipped.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
import types
import urllib.request
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from doc_blocks import LANGUAGES, ROOT, Block, all_blocks, blocks, documents, expected_output, shell_commands

from agorakit.models.scripted import load_script
from agorakit.policy import Policy
from agorakit.server.config import ServeConfig

pytestmark = pytest.mark.integration

VENV_BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Failure:
    """A command that cannot succeed in CI, and the clear error it must end with."""

    command: str  # a regex searched in the command
    status: int
    stderr: str  # a regex searched in its standard error
    why: str


EXPECTED_FAILURES = [
    Failure(r"openai:gpt-4o-mini", 1, r"^error: .*OPENAI_API_KEY", "needs a paid OpenAI key; CI has none"),
    Failure(r"@http://localhost:8000/v1", 1, r"^error: .*localhost:8000", "needs a model server on localhost:8000"),
]
# Scripts that install everything and run the whole suite (this test included):
# checked to be executable, valid bash.
NOT_RUN = {"./scripts/demo": "sets up .venv, which CI has already done", "./scripts/test": "runs this very test"}

# Python blocks that end with a documented error in CI: (doc, a line of the block, error type, message regex).
PYTHON_FAILURES = [
    ("docs/mcp.md", "MCPServer.http(", "MCPConnectionError", r"cannot connect to the MCP server .*127\.0\.0\.1:8000"),
]


def scratch_dir(tmp_path: Path) -> Path:
    """A directory that looks like the repository (so `.venv/bin/python bench/x.py`
    and `examples/...` paths work) but where everything written stays private."""
    scratch = tmp_path / "repo"
    scratch.mkdir()
    for entry in ROOT.iterdir():
        if entry.name in {".git", "docs"} or entry.name.endswith((".db", ".db-wal", ".db-shm")):
            continue
        (scratch / entry.name).symlink_to(entry)
    shutil.copytree(ROOT / "docs", scratch / "docs")
    return scratch


def private_env(tmp_path: Path, model_cache: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AGORAKIT_", "OPENAI_"))}
    env["AGORAKIT_HOME"] = str(tmp_path / "home")
    env["AGORAKIT_TRACE_DB"] = str(tmp_path / "home" / "traces.db")
    env["AGORAKIT_MODEL_CACHE"] = str(model_cache)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = "120"
    return env


def test_every_fence_names_a_known_language() -> None:
    bad = [f"{block.where}: ```{block.info}" for block in all_blocks() if block.language not in LANGUAGES]
    assert bad == [], f"fences must be one of {sorted(LANGUAGES)} (see tests/integration/doc_blocks.py)"


def test_text_output_blocks_follow_a_python_block() -> None:
    for doc in documents():
        doc_blocks = blocks(doc)
        for index, block in enumerate(doc_blocks):
            if block.language == "text" and block.info != "text":
                assert block.info == "text output", block.where
                assert index > 0 and doc_blocks[index - 1].language == "python", block.where


def test_the_readme_has_its_examples() -> None:
    languages = [block.language for block in blocks("README.md")]
    assert languages.count("python") >= 3 and languages.count("bash") >= 2


@pytest.mark.parametrize("block", [b for b in all_blocks() if b.language in {"yaml", "json"}], ids=lambda b: b.where)
def test_data_blocks_parse(block: Block, tmp_path: Path) -> None:
    if block.language == "json":
        json.loads(block.code)
        return
    data = yaml.safe_load(block.code)
    assert isinstance(data, dict), block.where
    if "tools" in data:
        Policy.load(block.code)
    elif "responses" in data:
        script = tmp_path / "script.yaml"
        script.write_text(block.code, encoding="utf-8")
        assert load_script(script).remaining == len(data["responses"])
    elif "entries" in data:
        ServeConfig.model_validate(data)  # a serve config: its fields checked, nothing imported
    else:
        raise AssertionError(f"{block.where}: a YAML block that is neither a policy, a model script nor a config")


PYTHON_DOCS = [doc for doc in documents() if any(b.language == "python" for b in blocks(doc))]


@pytest.mark.parametrize("doc", PYTHON_DOCS)
def test_python_blocks_run(doc: str, model_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(scratch_dir(tmp_path))
    env = private_env(tmp_path, model_cache)
    for key in [key for key in os.environ if key.startswith(("AGORAKIT_", "OPENAI_"))]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        if key.startswith("AGORAKIT_"):
            monkeypatch.setenv(key, value)
    module = types.ModuleType("doc_example")  # a real module, so dataclasses defined in a block work
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace = module.__dict__
    doc_blocks = blocks(doc)
    for block in doc_blocks:
        if block.file_name is not None:
            Path(block.file_name).write_text(block.code, encoding="utf-8")
    for index, block in enumerate(doc_blocks):
        if block.language != "python":
            continue
        expected_error = next((f for f in PYTHON_FAILURES if f[0] == doc and f[1] in block.code), None)
        out = io.StringIO()
        try:
            with redirect_stdout(out):
                exec(compile(block.code, block.where, "exec"), namespace)
        except Exception as error:
            if expected_error is None:
                raise
            assert type(error).__name__ == expected_error[2], f"{block.where}: {error!r}"
            assert re.search(expected_error[3], str(error)), f"{block.where}: {error}"
        else:
            assert expected_error is None, f"{block.where} should have raised {expected_error[2]} in CI"
        print(out.getvalue(), end="")
        expected = expected_output(doc_blocks, index)
        if expected is not None:
            assert out.getvalue() == expected, f"{block.where}: its output differs from the doc's"


def shell_commands_of_the_docs() -> list[tuple[Block, str]]:
    return [(b, command) for b in all_blocks() if b.language == "bash" for command in shell_commands(b.code)]


def test_the_exceptions_above_are_all_used() -> None:
    commands = [command for _, command in shell_commands_of_the_docs()]
    for failure in EXPECTED_FAILURES:
        assert any(re.search(failure.command, command) for command in commands), failure.command
    for script in NOT_RUN:
        assert any(command.split()[0] == script for command in commands), script
    python = [b for b in all_blocks() if b.language == "python"]
    for doc, line, _, _ in PYTHON_FAILURES:
        assert any(b.doc == doc and line in b.code for b in python), (doc, line)


def check_script(command: str) -> str | None:
    script = ROOT / command.split()[0]
    syntax = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    if not os.access(script, os.X_OK) or syntax.returncode != 0:
        return f"not an executable bash script: {syntax.stderr}"
    return None


def run_command(command: str, cwd: Path, env: dict[str, str]) -> str | None:
    """Run one documented command; what is wrong with how it ended, or None."""
    expected = next((f for f in EXPECTED_FAILURES if re.search(f.command, command)), None)
    started = time.monotonic()
    done = subprocess.run(
        ["bash", "-c", "set -o pipefail\n" + command], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )
    took = time.monotonic() - started  # printed for whoever keeps CI fast; never asserted
    print(f"$ {command}  -> exit {done.returncode} in {took:.1f}s\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    status = expected.status if expected else 0
    if done.returncode != status:
        return f"exit {done.returncode}, expected {status}:\n{done.stderr[-1500:]}"
    if expected and not re.search(expected.stderr, done.stderr, re.MULTILINE):
        return f"its error does not match {expected.stderr!r}:\n{done.stderr}"
    if "Traceback" in done.stderr:
        return f"a traceback:\n{done.stderr[-1500:]}"
    return None


SERVE = re.compile(r"^agora serve\b")


def start_server(command: str, cwd: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes] | None, str | None]:
    """``agora serve ...`` runs until stopped: started in the background, and ready once
    /health answers on its port; the commands after it in its document talk to it."""
    port = re.search(r"--port (\d+)", command)
    url = f"http://127.0.0.1:{port.group(1) if port else 8000}/health"
    log = (cwd / "serve.log").open("wb")
    process = subprocess.Popen(["bash", "-c", "exec " + command], cwd=cwd, env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return None, f"agora serve exited {process.returncode}: {(cwd / 'serve.log').read_text()[-1500:]}"
        try:
            with urllib.request.urlopen(url, timeout=1):
                return process, None
        except OSError:
            time.sleep(0.2)
    process.kill()
    return None, "agora serve did not answer /health within 120 s"


def stop_server(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None:
        process.terminate()
        process.wait(timeout=60)


@pytest.mark.timeout(900)
def test_shell_blocks_run_as_one_session(model_cache: Path, tmp_path: Path) -> None:
    scratch = scratch_dir(tmp_path)
    env = private_env(tmp_path, model_cache)
    problems: list[str] = []
    server: subprocess.Popen[bytes] | None = None
    serving_doc = None
    try:
        for block, command in shell_commands_of_the_docs():
            if serving_doc is not None and block.doc != serving_doc:
                stop_server(server)  # a server lives for the rest of the document that starts it
                server, serving_doc = None, None
            if SERVE.match(command):
                server, problem = start_server(command, scratch, env)
                serving_doc = block.doc
            elif command.split()[0] in NOT_RUN:
                problem = check_script(command)
            else:
                problem = run_command(command, scratch, env)
            if problem is not None:
                problems.append(f"{block.where}: {command}: {problem}")
    finally:
        stop_server(server)
    assert problems == [], "\n\n".join(problems)
