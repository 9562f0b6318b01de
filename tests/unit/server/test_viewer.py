"""The web viewer's pages over HTTP (httpx on the ASGI app): sign-in, the runs list and its
filters, a run's page, the live-update JSON, the benchmark page, escaping."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from agorakit.server import KeyStore, ServerSettings, create_app
from agorakit.server.viewer_auth import safe_next
from agorakit.trace.reader import list_runs
from viewer_samples import BANK_SYSTEM, BANK_TASK, HOSTILE_ANSWER, ViewerRuns, make_runs


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> ViewerRuns:
    return asyncio.run(make_runs(tmp_path_factory.mktemp("viewer")))


@pytest.fixture
def keys(tmp_path: Path) -> Iterator[KeyStore]:
    store = KeyStore(tmp_path / "server.db")
    yield store
    store.close()


def client_for(app: Any, cookies: dict[str, str] | None = None) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://viewer.test", cookies=cookies)


@pytest.fixture
async def signed_in(runs: ViewerRuns, keys: KeyStore) -> AsyncIterator[httpx.AsyncClient]:
    """A client holding the viewer's cookie for a live key."""
    app = create_app([], ServerSettings(trace_db=runs.trace_db, bench_db=runs.bench_db), keys=keys)
    async with client_for(app, {"agorakit_key": keys.create("viewer")}) as client:
        yield client


def run_ids(html: str) -> list[str]:
    return re.findall(r'<td class="id"><a href="/ui/runs/([0-9a-f]+)">', html)


async def test_pages_without_a_key_redirect_to_the_sign_in_form(runs: ViewerRuns, keys: KeyStore) -> None:
    app = create_app([], ServerSettings(trace_db=runs.trace_db), keys=keys)
    revoked = keys.create("gone")
    keys.revoke("gone")
    async with client_for(app) as client:
        response = await client.get("/ui")
        assert (response.status_code, response.headers["location"]) == (303, "/ui/login?next=%2Fui")
        response = await client.get(f"/ui/runs/{runs.bank_run}?tab=1")
        assert response.headers["location"] == f"/ui/login?next=%2Fui%2Fruns%2F{runs.bank_run}%3Ftab%3D1"
        async with client_for(app, {"agorakit_key": revoked}) as stale:
            response = await stale.get("/ui/bench")
        assert (response.status_code, response.headers["location"]) == (303, "/ui/login?next=%2Fui%2Fbench")
        # What is not a page a browser navigates to keeps the JSON 401.
        for method, path in (("GET", f"/ui/api/runs/{runs.bank_run}"), ("POST", "/ui/logout"), ("GET", "/v1/models")):
            response = await client.request(method, path)
            assert response.status_code == 401
            assert response.json()["error"]["type"] == "authentication_error"
        form = await client.get("/ui/login?next=/ui/bench")
        assert form.status_code == 200
        assert '<input type="hidden" name="next" value="/ui/bench">' in form.text
        css = await client.get("/ui/static/viewer.css")
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


async def test_signing_in_sets_a_strict_http_only_cookie(runs: ViewerRuns, keys: KeyStore) -> None:
    app = create_app([], ServerSettings(trace_db=runs.trace_db, bench_db=runs.bench_db), keys=keys)
    key = keys.create("viewer")
    async with client_for(app) as client:
        refused = await client.post("/ui/login", data={"key": "ak-wrong", "next": "/ui/bench"})
        assert refused.status_code == 401
        assert "That key is not valid (unknown or revoked)." in refused.text
        assert "set-cookie" not in refused.headers
        elsewhere = await client.post("/ui/login", data={"key": key}, headers={"Sec-Fetch-Site": "cross-site"})
        assert elsewhere.status_code == 403 and "set-cookie" not in elsewhere.headers
        response = await client.post(
            "/ui/login", data={"key": f" {key} ", "next": "/ui/bench"}, headers={"Sec-Fetch-Site": "same-origin"}
        )
        assert (response.status_code, response.headers["location"]) == (303, "/ui/bench")
        assert response.headers["set-cookie"] == f"agorakit_key={key}; HttpOnly; Path=/ui; SameSite=strict"
        page = await client.get("/ui/bench")
        assert page.status_code == 200 and "Benchmark results" in page.text
        assert "Sign out" in page.text
        out = await client.post("/ui/logout")
        assert (out.status_code, out.headers["location"]) == (303, "/ui/login")
        assert out.headers["set-cookie"].startswith('agorakit_key=""; expires=')
        assert (await client.get("/ui")).status_code == 303


@pytest.mark.parametrize(
    ("asked", "goes_to"),
    [
        ("/ui/runs/abc?tab=1", "/ui/runs/abc?tab=1"),
        ("/ui", "/ui"),
        ("//evil.example/ui", "/ui"),
        ("https://evil.example/ui", "/ui"),
        ("/\\evil.example", "/ui"),
        ("/uix", "/ui"),
        ("/ui/login?next=/ui", "/ui"),
        ("/ui/api/runs/abc", "/ui"),
        ("/ui/runs/a\r\nSet-Cookie: x=1", "/ui"),
        ("", "/ui"),
        (None, "/ui"),
    ],
)
def test_sign_in_only_returns_to_viewer_pages(asked: str | None, goes_to: str) -> None:
    assert safe_next(asked) == goes_to


async def test_with_auth_off_there_is_no_sign_in(runs: ViewerRuns) -> None:
    app = create_app([], ServerSettings(auth=False, trace_db=runs.trace_db))
    async with client_for(app) as client:
        page = await client.get("/ui")
        assert page.status_code == 200
        assert "Sign out" not in page.text
        response = await client.get("/ui/login?next=/ui/bench")
        assert (response.status_code, response.headers["location"]) == (303, "/ui/bench")


async def test_runs_list_newest_first_with_filters(signed_in: httpx.AsyncClient, runs: ViewerRuns) -> None:
    newest_first = [run.run_id for run in list_runs(runs.trace_db, 10)]
    bench = [run_id for run_id in newest_first if run_id in runs.bench_runs.values()]
    page = await signed_in.get("/ui")
    assert page.status_code == 200
    assert page.headers["content-security-policy"].startswith("default-src 'none'; script-src 'self'")
    assert run_ids(page.text) == newest_first == [*bench, runs.debate_run, runs.bank_run]
    assert '<option value="bank">bank</option>' in page.text
    assert '<option value="llm_debate">llm_debate</option>' in page.text
    today = date.today()
    cases = {
        "agent=bank": [runs.bank_run],
        "method=llm_debate": [*bench, runs.debate_run],
        "method=llm_debate&agent=bank": [],
        "status=ok&q=MALLORY": [runs.bank_run],
        "q=6+times+7": [runs.bench_runs["q1"], runs.debate_run],
        f"q={runs.bank_run[-6:]}": [runs.bank_run],
        "q=100%25": [],
        "status=error": [],
        f"from={today}&to={today}": [*bench, runs.debate_run, runs.bank_run],
        f"from={today + timedelta(days=1)}": [],
        f"to={today - timedelta(days=1)}": [],
    }
    for query, expected in cases.items():
        found = await signed_in.get(f"/ui?{query}")
        assert run_ids(found.text) == expected, query
        if not expected:
            assert "No runs match." in found.text
    wrong = await signed_in.get("/ui?status=lost&from=yesterday")
    assert "status &#39;lost&#39; is not one of ok, error, open, cancelled; ignored" in wrong.text
    assert "from &#39;yesterday&#39; is not a date (YYYY-MM-DD); ignored" in wrong.text
    assert len(run_ids(wrong.text)) == 4


async def test_run_page_shows_the_tree_escaped(signed_in: httpx.AsyncClient, runs: ViewerRuns) -> None:
    page = await signed_in.get(f"/ui/runs/{runs.bank_run}")
    assert page.status_code == 200
    html = page.text
    assert "window.__pwned" in html  # the hostile answer is there, as text only
    assert "<script>window" not in html and "<img src=x" not in html
    assert "&lt;img src=x onerror=&#34;window.__pwned = 1&#34;&gt;&lt;script&gt;" in html
    assert HOSTILE_ANSWER not in html
    for shown in (
        BANK_SYSTEM,
        BANK_TASK,
        "policy: deny send_money (no rule of the policy allows this call); fallback: error",
        "policy: allow send_money (allowed by rule send_money[0])",
        "sent 3 to alice",
        "PolicyDenied: Error: policy denied send_money: no rule of the policy allows this call",
    ):
        assert shown in html, shown
    assert html.count('class="span error"') == 1
    assert 'data-live="0"' in html


async def test_run_page_resolves_prefixes_and_last(signed_in: httpx.AsyncClient, runs: ViewerRuns) -> None:
    last = await signed_in.get("/ui/runs/last")
    newest = list_runs(runs.trace_db, 1)[0].run_id
    assert (last.status_code, last.headers["location"]) == (302, f"/ui/runs/{newest}")
    prefix = await signed_in.get(f"/ui/runs/{runs.bank_run[:-1]}")
    assert prefix.headers["location"] == f"/ui/runs/{runs.bank_run}"
    missing = await signed_in.get("/ui/runs/ffffffffffff")
    assert missing.status_code == 404
    assert "no run matches &#39;ffffffffffff&#39;" in missing.text


async def test_live_json_sends_the_page_part_only_on_change(signed_in: httpx.AsyncClient, runs: ViewerRuns) -> None:
    first = (await signed_in.get(f"/ui/api/runs/{runs.debate_run}")).json()
    assert first["changed"] is True and first["finished"] is True and first["status"] == "ok"
    assert re.fullmatch(r"\d+\.\d+\.\d+", first["version"])
    spans, ended, _ = first["version"].split(".")
    assert spans == ended
    assert "debater_1" in first["html"] and "<html" not in first["html"]
    again = (await signed_in.get(f"/ui/api/runs/{runs.debate_run}", params={"version": first["version"]})).json()
    assert again == {"run_id": runs.debate_run, "version": first["version"], "changed": False}
    gone = await signed_in.get("/ui/api/runs/ffffffffffff")
    assert gone.status_code == 404


async def test_bench_page_shows_every_sample_linked_to_its_run(signed_in: httpx.AsyncClient, runs: ViewerRuns) -> None:
    page = await signed_in.get("/ui/bench")
    assert page.status_code == 200
    html = page.text
    assert html.count('<img src="data:image/png;base64,') == 3
    assert "50.0% (9.5–90.5)" in html  # the summary table of `agora report`
    samples = html.split('<table class="samples">')[1]
    rows = re.findall(r"<tr>\s*<td>arith</td>.*?</tr>", samples, flags=re.S)
    assert len(rows) == 2
    for row, sample, question, outcome in zip(
        rows, ("q1", "q2"), ("What is 6 times 7?", "What is 2 plus 5?"), ("correct", "incorrect"), strict=True
    ):
        assert f'<td class="id">{sample}</td>' in row and question in row
        assert f'<span class="badge {outcome}"' in row
        assert f'href="/ui/runs/{runs.bench_runs[sample]}"' in row
    none = await signed_in.get("/ui/bench?dataset=gsm8k")
    assert "No results match." in none.text


async def test_missing_databases_are_explained(tmp_path: Path) -> None:
    settings = ServerSettings(auth=False, trace_db=tmp_path / "none.db", bench_db=tmp_path / "nobench.db")
    async with client_for(create_app([], settings)) as client:
        runs = await client.get("/ui")
        assert runs.status_code == 200 and f"no trace database at {tmp_path / 'none.db'}" in runs.text
        bench = await client.get("/ui/bench")
        assert f"no results database at {tmp_path / 'nobench.db'}" in bench.text
        assert not (tmp_path / "nobench.db").exists()
        run = await client.get("/ui/runs/last")
        assert run.status_code == 404
