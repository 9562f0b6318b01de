"""The README's Python examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

README = Path(__file__).resolve().parents[2] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)


def test_the_readme_has_its_examples() -> None:
    assert len(python_blocks()) == 3


@pytest.mark.parametrize("index", [0, 1, 2])
def test_readme_example_runs(index: int, model_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGORAKIT_TRACE_DB", str(tmp_path / "traces.db"))
    namespace: dict[str, object] = {}
    exec(compile(python_blocks()[index], f"README.md example {index + 1}", "exec"), namespace)
    result = namespace["result"]
    assert result.stop_reason in {"final_answer", "max_steps"}  # type: ignore[attr-defined]
