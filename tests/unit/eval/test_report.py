"""write_report on hand-made rows: the HTML parses, embeds exactly three PNG plots and no external asset."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from eval_rows import result_row

from agorakit.core.errors import ConfigError
from agorakit.eval.metrics import summarize
from agorakit.eval.record import ResultRow
from agorakit.eval.report import ReportPaths, write_report
from agorakit.eval.report.markdown import markdown_table
from agorakit.eval.report.plots import accuracy_vs_cost
from agorakit.eval.report.tables import TextTable

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DATA_PNG = "data:image/png;base64,"


def make_rows(
    dataset: str, method: str, correct: int, n: int, *, cost: float, model: str = "scripted:a", config_hash: str = "h1"
) -> list[ResultRow]:
    return [
        result_row(
            dataset,
            str(i),
            method,
            config_hash,
            model,
            config='{"rounds": 2}',
            prediction="x",
            extracted="x",
            correct=i < correct,
            calls=2,
            input_tokens=90,
            output_tokens=30,
            cost_usd=cost,
            latency_s=0.5,
        )
        for i in range(n)
    ]


# gsm8k: cot 4/10 at $0.001 a question, debate 6/10 at $0.003, dylan 5/10 at $0.004 (dominated).
# math500: cot 2/5, debate 1/5 (dylan did not run there).
ROWS = (
    make_rows("gsm8k", "cot", 4, 10, cost=0.001)
    + make_rows("gsm8k", "llm_debate", 6, 10, cost=0.003)
    + make_rows("gsm8k", "dylan", 5, 10, cost=0.004)
    + make_rows("math500", "cot", 2, 5, cost=0.001)
    + make_rows("math500", "llm_debate", 1, 5, cost=0.003)
)


class Page(HTMLParser):
    """Collects images, tables, every URL-bearing attribute and the text of each table row."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str | None]] = []
        self.urls: list[str] = []
        self.tags: list[str] = []
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None
        self.headings: list[str] = []
        self._heading: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        values = dict(attrs)
        if tag == "img":
            self.images.append(values)
        for name in ("src", "href", "srcset", "data", "action"):
            if values.get(name):
                self.urls.append(str(values[name]))
        if tag == "tr":
            self.rows.append([])
        if tag in ("td", "th"):
            self._cell = []
        if tag in ("h1", "h2", "h3"):
            self._heading = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None
        if tag in ("h1", "h2", "h3") and self._heading is not None:
            self.headings.append("".join(self._heading))
            self._heading = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._heading is not None:
            self._heading.append(data)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> ReportPaths:
    return write_report(ROWS, tmp_path_factory.mktemp("report") / "out", title="Grid <one> & two")


@pytest.fixture(scope="module")
def page(report: ReportPaths) -> Page:
    parser = Page()
    parser.feed(report.html.read_text(encoding="utf-8"))
    parser.close()
    return parser


def test_files_are_written(report: ReportPaths) -> None:
    out = report.html.parent
    assert (report.markdown, report.html) == (out / "report.md", out / "report.html")
    names = sorted(path.name for path in (out / "plots").iterdir())
    assert names == ["accuracy_per_dataset.png", "accuracy_vs_cost.png", "tokens_per_method.png"]
    assert [path.name for path in report.plots] == ["accuracy_vs_cost.png", "tokens_per_method.png", names[0]]
    for path in report.plots:
        assert path.read_bytes().startswith(PNG_MAGIC)


def test_html_embeds_exactly_three_png_plots_with_alt_text(report: ReportPaths, page: Page) -> None:
    assert len(page.images) == 3
    written = [path.read_bytes() for path in report.plots]
    for image, png in zip(page.images, written, strict=True):
        src = str(image["src"])
        assert src.startswith(DATA_PNG)
        decoded = base64.b64decode(src.removeprefix(DATA_PNG), validate=True)
        assert decoded.startswith(PNG_MAGIC)
        assert decoded == png  # the same figure as plots/*.png
        assert len(str(image["alt"])) > 40
    assert "Pareto front" in str(page.images[0]["alt"])


def test_html_is_self_contained(report: ReportPaths, page: Page) -> None:
    assert all(url.startswith(DATA_PNG) for url in page.urls)
    assert not {"script", "link", "iframe"} & set(page.tags)
    text = report.html.read_text(encoding="utf-8")
    assert not re.search(r"https?://|url\(|@import", text)
    assert page.tags[:2] == ["html", "head"]


def test_html_title_is_escaped(report: ReportPaths, page: Page) -> None:
    text = report.html.read_text(encoding="utf-8")
    assert "<title>Grid &lt;one&gt; &amp; two</title>" in text
    assert page.headings[0] == "Grid <one> & two"
    assert {"Summary", "Leaderboard: accuracy (%)", "Plots", "Per dataset", "gsm8k", "math500"} <= set(page.headings)


def test_html_summary_table_has_each_configuration(page: Page) -> None:
    summary = {(r[0], r[1]): r for r in page.rows if len(r) == 10 and r[0] != "dataset"}
    assert set(summary) == {
        ("gsm8k", "cot"),
        ("gsm8k", "dylan"),
        ("gsm8k", "llm_debate"),
        ("math500", "cot"),
        ("math500", "llm_debate"),
    }
    assert summary[("gsm8k", "cot")] == [
        "gsm8k",
        "cot",
        "10",
        "40.0% (16.8–68.7)",
        "0",
        "120",
        "2.0",
        "$0.0025",
        "300",
        "0.50s",
    ]
    assert summary[("gsm8k", "llm_debate")][3] == "60.0% (31.3–83.2)"
    assert summary[("math500", "llm_debate")][7] == "$0.015"  # $0.015 spent for one correct answer


def test_html_leaderboard(page: Page) -> None:
    boards = [i for i, r in enumerate(page.rows) if r == ["method", "gsm8k", "math500", "avg", "avg rank"]]
    assert len(boards) == 2  # accuracy, then cost per correct answer
    accuracy = page.rows[boards[0] + 1 : boards[0] + 4]
    # gsm8k: debate 60 > dylan 50 > cot 40; math500: cot 40 > debate 20.
    assert accuracy == [
        ["llm_debate", "60.0", "20.0", "40.0", "1.50"],
        ["cot", "40.0", "40.0", "40.0", "2.00"],
        ["dylan", "50.0", "–", "50.0", "2.00"],
    ]


def test_markdown_has_leaderboard_tables_and_plot_links(report: ReportPaths) -> None:
    text = report.markdown.read_text(encoding="utf-8")
    assert text.startswith("# Grid <one> & two\n")
    assert "## Leaderboard: accuracy (%)" in text
    assert "| method | gsm8k | math500 | avg | avg rank |" in text
    # Best value of each column in bold.
    assert "| llm_debate | **60.0** | 20.0 | 40.0 | **1.50** |" in text
    assert "| cot | 40.0 | **40.0** | 40.0 | 2.00 |" in text
    assert "| dylan | 50.0 | – | **50.0** | 2.00 |" in text
    assert "## Leaderboard: cost per correct answer (USD)" in text
    assert "| gsm8k | cot | 10 | 40.0% (16.8–68.7) | 0 | 120 | 2.0 | $0.0025 | 300 | 0.50s |" in text
    assert "### math500" in text
    links = re.findall(r"!\[[^\]]+\]\((plots/[a-z_]+\.png)\)", text)
    assert links == ["plots/accuracy_vs_cost.png", "plots/tokens_per_method.png", "plots/accuracy_per_dataset.png"]
    assert "arXiv:2508.02694" in text


def test_free_models_use_tokens_instead_of_cost(tmp_path: Path) -> None:
    rows = make_rows("gsm8k", "cot", 1, 2, cost=0.0) + make_rows("gsm8k", "self_refine", 2, 2, cost=0.0)
    paths = write_report(rows, tmp_path)
    text = paths.markdown.read_text(encoding="utf-8")
    assert "## Leaderboard: tokens per correct answer" in text
    assert "mean tokens per question" in accuracy_vs_cost(summarize(rows)).alt


def test_markdown_cells_escape_pipes() -> None:
    table = TextTable(headers=["a|b"], rows=[["x | y\nz"]], align=["left"], bold={(0, 0)})
    assert markdown_table(table) == "| a\\|b |\n|:---|\n| **x \\| y z** |"


def test_empty_rows_are_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no results in DB; run agora bench first"):
        write_report([], tmp_path / "nothing")
    assert not (tmp_path / "nothing").exists()


SAMPLE_ROWS = [
    result_row(
        "gsm8k",
        "q1",
        "cot",
        "h1",
        question="Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. " * 3,
        expected="72",
        prediction="She sold 72 in total.",
        extracted="72",
        correct=True,
        run_id="0190cccc1111aabbccddeeff00",
    ),
    result_row("gsm8k", "q2", "cot", "h1", question="What is 6 * 7?", expected="42", extracted="48", correct=False),
    result_row(
        "gsm8k",
        "q3",
        "cot",
        "h1",
        question="What is 2 + 2?",
        expected="4",
        extracted=None,
        correct=False,
        status="error",
        error="ModelTimeout: too slow",
        run_id="0190cccc3333aabbccddeeff00",
    ),
    result_row("gsm8k", "q1", "vanilla", "h2", expected="72", extracted="7", correct=False, run_id="run-old-row"),
]


def test_html_has_a_per_sample_table_per_method_and_dataset(tmp_path: Path) -> None:
    paths = write_report(SAMPLE_ROWS, tmp_path / "out")
    html = paths.html.read_text(encoding="utf-8")
    page = Page()
    page.feed(html)
    assert page.tags.count("details") == 2  # gsm8k · cot and gsm8k · vanilla, folded without a script
    assert "<script" not in html
    header = ["sample", "question", "expected", "answer", "result", "trace run id"]
    start = page.rows.index(header)
    cot = page.rows[start + 1 : start + 4]
    question = "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May."
    assert cot[0][0] == "q1" and cot[0][1].startswith(question) and cot[0][1].endswith("…")
    assert len(cot[0][1]) == 160
    assert cot[0][2:] == ["72", "72", "correct", "0190cccc1111aabbccddeeff00"]
    assert cot[1] == ["q2", "What is 6 * 7?", "42", "48", "incorrect", "run-cot-q2"]
    assert cot[2] == ["q3", "What is 2 + 2?", "4", "–", "error", "0190cccc3333aabbccddeeff00"]
    vanilla = page.rows[page.rows.index(header, start + 1) + 1]
    assert vanilla == ["q1", "–", "72", "7", "incorrect", "run-old-row"]  # a row stored before questions were
    assert '<td class="error">error</td>' in html and '<td class="prose">What is 6 * 7?</td>' in html
    markdown = paths.markdown.read_text(encoding="utf-8")
    assert "| q2 | What is 6 * 7? | 42 | 48 | incorrect | run-cot-q2 |" in markdown


def test_html_css_keeps_tables_and_plots_inside_the_content_width(report: ReportPaths, page: Page) -> None:
    html = report.html.read_text(encoding="utf-8")
    css = html[html.index("<style>") : html.index("</style>")]
    assert ".scroll { overflow-x: auto; max-width: 100%; }" in css  # wide tables scroll inside the page
    assert re.search(r"th \{[^}]*white-space: normal", css)  # headers wrap between words
    assert re.search(r"figure img \{[^}]*width: 100%", css)  # plots fill the content width
    assert page.tags.count("table") == html.count('<div class="scroll"><table>')  # every table in a scroll box


def test_a_zero_percent_bar_is_drawn_in_its_legend_colour(tmp_path: Path) -> None:
    from matplotlib import colormaps
    from matplotlib.image import imread

    from agorakit.eval.report.plots import accuracy_per_dataset

    rows = make_rows("gsm8k", "cot", 0, 10, cost=0.0) + make_rows("gsm8k", "vanilla", 3, 10, cost=0.0)
    png = tmp_path / "bars.png"
    png.write_bytes(accuracy_per_dataset(summarize(rows)).png)
    pixels = imread(png)[:, :, :3]
    cot = colormaps["tab10"](0)[:3]  # the first label's colour, as in the legend
    matching = int((abs(pixels - cot) < 0.01).all(axis=2).sum())
    # The legend's patch alone is ~660 pixels (200 at the old 110 dpi); the 0% bar's stub adds ~4,000.
    assert matching > 1500, matching
