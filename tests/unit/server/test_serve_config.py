"""Serve configs (YAML and Python) and the key store."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest

from agorakit.core.errors import ConfigError
from agorakit.server.config import load_config
from agorakit.server.keys import KeyStore, RateLimiter


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


async def test_a_yaml_config_serves_agents_and_methods_that_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "say.yaml").write_text("- 'The answer is 4'\n- 'The answer is 4'\n")
    config = write(
        tmp_path / "serve.yaml",
        """
        entries:
          - name: helper
            model: scripted:say.yaml
            instructions: Be brief.
            tools: [calculator]
            description: a calculator agent
          - name: solo
            method: vanilla
            model: scripted:say.yaml
            budget: {calls: 3}
        """,
    )
    monkeypatch.chdir(tmp_path)  # the scripted model's file is found from the working folder
    entries = load_config(config)
    assert [(e.name, e.kind, e.description) for e in entries] == [
        ("helper", "agent", "a calculator agent"),
        ("solo", "method", "the vanilla method"),
    ]
    from agorakit.core.messages import Message

    answer = await entries[1].run([Message("user", "2 + 2?")], "run-solo")
    assert answer.text == "The answer is 4" and answer.run_id == "run-solo"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("entries: []\n", "entries"),
        ("entries:\n  - {name: a, method: nope}\n", "nope"),
        ("entries:\n  - {name: a, tools: [hammer]}\n", "hammer"),
        ("entries:\n  - {name: a, method: vanilla, settings: {colour: red}}\n", "colour"),
        ("entries:\n  - {name: a, method: vanilla, tools: [calculator]}\n", "for agents"),
        ("entries:\n  - {name: 'has space'}\n", "name"),
        ("entries:\n  - {name: a, wings: 2}\n", "wings"),
        ("entries: [\n", "not valid YAML"),
    ],
)
def test_a_bad_config_is_refused_with_what_is_wrong(tmp_path: Path, text: str, says: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path / "serve.yaml", text))
    assert says in str(raised.value)


def test_a_python_config_serves_its_entries_list(tmp_path: Path) -> None:
    config = write(
        tmp_path / "serve.py",
        """
        from agorakit import Agent, ScriptedModel

        entries = [Agent("echo", ScriptedModel(lambda request: "echo"))]
        """,
    )
    assert [e.name for e in load_config(config)] == ["echo"]
    with pytest.raises(ConfigError, match="no 'entries' list"):
        load_config(write(tmp_path / "empty.py", "x = 1\n"))


def test_keys_are_stored_hashed_and_can_be_revoked(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "server.db")
    key = store.create("ci", rpm=10, max_tokens=100)
    assert key.startswith("ak-") and len(key) > 40
    assert key not in (tmp_path / "server.db").read_bytes().decode("latin-1")
    record = store.lookup(key)
    assert record is not None and (record.name, record.rpm, record.max_tokens) == ("ci", 10, 100)
    with pytest.raises(ValueError, match="exists already"):
        store.create("ci")
    with pytest.raises(ValueError, match="positive"):
        store.create("bad", rpm=0)
    assert store.revoke("ci") and not store.revoke("ci")
    assert store.lookup(key) is None
    assert [r.name for r in store.list()] == ["ci"]


def test_the_rate_limiter_refills_at_rpm_per_minute() -> None:
    now = [100.0]
    limiter = RateLimiter()
    limiter._now = lambda: now[0]
    assert [limiter.take("k", 2) for _ in range(2)] == [0.0, 0.0]
    assert limiter.take("k", 2) == pytest.approx(30.0)
    now[0] += 30.0
    assert limiter.take("k", 2) == 0.0
    assert limiter.take("other", 2) == 0.0


def test_charges_reach_the_disk_together_and_another_process_sees_a_revocation_within_a_second(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agorakit.core.usage import Usage
    from agorakit.server import keys as keys_module

    server = KeyStore(tmp_path / "server.db")
    key = server.create("ci", max_calls=3)
    cli = KeyStore(tmp_path / "server.db")  # `agora keys` in another process
    server.charge("ci", Usage(1, 10, 5))
    server.charge("ci", Usage(1, 1, 1))
    record = server.lookup(key)
    assert record is not None and (record.calls, record.tokens) == (2, 17)  # this process sees its charges at once
    server.flush()
    on_disk = cli.get("ci")
    assert on_disk is not None and (on_disk.calls, on_disk.tokens) == (2, 17)
    assert cli.revoke("ci")
    assert server.lookup(key) is not None  # trusted for KEY_CACHE_S ...
    now = time.monotonic()
    monkeypatch.setattr(keys_module.time, "monotonic", lambda: now + keys_module.KEY_CACHE_S + 0.1)
    assert server.lookup(key) is None  # ... then read again
    server.charge("ci", Usage(1, 1, 1))
    server.close()  # flushes what is pending
    closed = cli.get("ci")
    assert closed is not None and closed.calls == 3
