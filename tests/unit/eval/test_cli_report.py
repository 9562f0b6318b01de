"""`agora report` on a results database written through the real ResultsStore."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest
from eval_rows import result_row
from typer.testing import CliRunner, Result

from agorakit.cli.main import app
from agorakit.core.errors import ConfigError
from agorakit.eval.record import ResultRow
from agorakit.eval.results import ResultsStore

WIDE = {"COLUMNS": "220", "NO_COLOR": "1", "TERM": "dumb"}


def make_rows(dataset: str, method: str, correct: int, n: int, model: str = "scripted:a") -> list[ResultRow]:
    return [
        result_row(
            dataset,
            f"{dataset}-{i}",
            method,
            "cfg0001",
            model,
            prediction="7",
            extracted="7",
            correct=i < correct,
            input_tokens=40,
            output_tokens=10,
            latency_s=0.25,
            run_id=f"r{i}",
        )
        for i in range(n)
    ]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "bench.db"
    with ResultsStore(path) as store:
        for row in make_rows("gsm8k", "cot", 3, 4) + make_rows("gsm8k", "llm_debate", 1, 4):
            store.write(row)
        for row in make_rows("math500", "cot", 0, 2):
            store.write(row)
    return path


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, ["report", *args], env={**WIDE, **(env or {})})


class Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.sources.append(str(dict(attrs)["src"]))


def table_lines(output: str) -> dict[tuple[str, str], list[str]]:
    """The summary's rows, printed as tab-separated lines when stdout is not a terminal."""
    rows = [line.split("\t") for line in output.splitlines() if line.count("\t") > 3]
    return {(r[0], r[1]): r for r in rows[1:]}


def test_report_writes_both_files_and_prints_the_table(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    result = invoke("--db", str(db), "--out", str(out), "--title", "Nightly")
    assert result.exit_code == 0, result.output
    assert f"markdown: {out / 'report.md'}" in result.output
    assert f"html:     {out / 'report.html'}" in result.output
    lines = table_lines(result.output)
    assert set(lines) == {("gsm8k", "cot"), ("gsm8k", "llm_debate"), ("math500", "cot")}
    assert lines[("gsm8k", "cot")][2:4] == ["4", "75.0% (30.1–95.4)"]
    assert lines[("math500", "cot")][8] == "∞"  # no correct answer: infinite tokens per pass
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<title>Nightly</title>" in html
    images = Images()
    images.feed(html)
    assert len(images.sources) == 3
    assert all(src.startswith("data:image/png;base64,iVBORw0KGgo") for src in images.sources)  # b64 of PNG magic
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "| cot | **75.0** | **0.0** | **37.5** | **1.00** |" in markdown  # alone on math500, so best there


def test_filters_select_rows(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "only-debate"
    result = invoke("--db", str(db), "--out", str(out), "--methods", "llm_debate", "--datasets", "gsm8k,math500")
    assert result.exit_code == 0, result.output
    assert set(table_lines(result.output)) == {("gsm8k", "llm_debate")}
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "| gsm8k | llm_debate | 4 | 25.0% (4.6–69.9) |" in markdown
    assert "| gsm8k | cot |" not in markdown


def test_defaults_come_from_the_environment_and_the_working_directory(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("--models", "scripted:a", env={"AGORAKIT_BENCH_DB": str(db)})
    assert result.exit_code == 0, result.output
    assert (tmp_path / "agora-report" / "report.html").is_file()
    assert (tmp_path / "agora-report" / "plots" / "tokens_per_method.png").is_file()


def test_missing_database_is_a_config_error_and_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nope.db"
    result = invoke("--db", str(missing), "--out", str(tmp_path / "out"))
    assert isinstance(result.exception, ConfigError)
    assert result.exception.message == f"no results database at {missing}"
    assert not missing.exists()


def test_filters_matching_nothing_are_a_config_error(db: Path, tmp_path: Path) -> None:
    result = invoke("--db", str(db), "--out", str(tmp_path / "out"), "--models", "scripted:zzz")
    assert isinstance(result.exception, ConfigError)
    assert result.exception.message == "no results in DB; run agora bench first"
    result = invoke("--db", str(db), "--methods", " , ")
    assert isinstance(result.exception, ConfigError)
    assert "empty list" in result.exception.message
