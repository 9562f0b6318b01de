"""The web viewer in a real browser: Debian's chromium, driven by Playwright, against a real
uvicorn server with auth on, over runs that real agents, a method and a benchmark grid wrote.

Screenshots of the runs list and of a run's tree go to $AGORAKIT_SCREENSHOTS (default: pytest's
temporary folder)."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from agorakit import Agent, ScriptedModel
from agorakit.core.ids import new_run_id
from agorakit.server import KeyStore, ServerSettings, create_app
from agorakit.trace.store import open_store
from viewer_samples import (
    BANK_SYSTEM,
    BANK_TASK,
    DEBATE_QUESTION,
    DEBATE_REPLY,
    HOSTILE_ANSWER,
    ViewerRuns,
    make_runs,
)

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LIVE_TASK = "Watch the kettle."
LIVE_ANSWER = "The kettle boiled."
WAIT_MS = 20_000  # how long an expectation waits for the page to catch up


@dataclass(frozen=True, slots=True)
class Site:
    url: str
    key: str
    runs: ViewerRuns
    live_run: str
    release: threading.Event
    screenshots: Path


@pytest.fixture(scope="module")
def chromium() -> Path:
    if CHROMIUM.exists():
        return CHROMIUM
    message = f"{CHROMIUM} is missing: install Debian's chromium (scripts/setup does so when run as root)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_live_run(trace_db: Path, release: threading.Event) -> tuple[str, threading.Thread]:
    """A run whose model answers only once ``release`` is set: unfinished until then."""
    entered = threading.Event()

    def slow(request: object) -> str:
        entered.set()
        release.wait(120)
        return LIVE_ANSWER

    agent = Agent("watcher", ScriptedModel(slow), instructions="Watch things.", trace=trace_db)
    run_id = new_run_id()
    thread = threading.Thread(target=lambda: asyncio.run(agent.run(LIVE_TASK, run_id=run_id)), daemon=True)
    thread.start()
    assert entered.wait(30), "the live run never called its model"
    open_store(trace_db).flush()  # its open spans are in the database before the page is asked for
    return run_id, thread


@pytest.fixture(scope="module")
def site(chromium: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("viewer")
    # On a thread of its own: Playwright's sync API may already run an event loop on this one.
    with ThreadPoolExecutor(1) as pool:
        runs = pool.submit(asyncio.run, make_runs(folder)).result()
    release = threading.Event()
    live_run, live_thread = _start_live_run(runs.trace_db, release)
    keys = KeyStore(folder / "server.db")
    key = keys.create("browser")
    app = create_app([], ServerSettings(trace_db=runs.trace_db, bench_db=runs.bench_db), keys=keys)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    shots = Path(os.environ.get("AGORAKIT_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    try:
        yield Site(f"http://127.0.0.1:{port}", key, runs, live_run, release, shots)
    finally:
        release.set()
        live_thread.join(30)
        server.should_exit = True
        thread.join(30)
        keys.close()


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium), args=LAUNCH_ARGS)
        yield launched
        launched.close()


def _sign_in(page: Page, site: Site, key: str) -> None:
    page.fill("#key", key)
    page.click("form[action='/ui/login'] button[type=submit]")


@pytest.fixture
def page(browser: Browser, site: Site) -> Iterator[Page]:
    """A fresh browser context, signed in through the form."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    signed_in = context.new_page()
    signed_in.goto(f"{site.url}/ui")
    _sign_in(signed_in, site, site.key)
    expect(signed_in.locator("h1")).to_have_text("Runs")
    yield signed_in
    context.close()


def _span(scope: Page, name: str, *, error: bool | None = None) -> Locator:
    """The tree's spans named ``name`` (only failed or only good ones, if ``error`` says)."""
    kind = {None: "", True: " and contains(@class, 'error')", False: " and not(contains(@class, 'error'))"}[error]
    return scope.locator(
        f"xpath=//details[contains(@class, 'span'){kind}][summary/span[@class='name' and text()='{name}']]"
    )


def _row_ids(page: Page) -> list[str]:
    return [text.strip() for text in page.locator("table.runs td.id").all_inner_texts()]


def test_sign_in_through_the_form(browser: Browser, site: Site) -> None:
    context = browser.new_context()
    page = context.new_page()
    asked = f"/ui/runs/{site.runs.bank_run}"
    page.goto(site.url + asked)
    assert page.url == f"{site.url}/ui/login?next={asked.replace('/', '%2F')}"
    _sign_in(page, site, "ak-not-a-key")
    expect(page.locator(".problem")).to_have_text("That key is not valid (unknown or revoked).")
    assert context.cookies() == []
    _sign_in(page, site, site.key)
    expect(page.locator("h1")).to_contain_text(site.runs.bank_run)
    assert page.url == site.url + asked
    [cookie] = context.cookies()
    assert (cookie["name"], cookie["value"], cookie["path"]) == ("agorakit_key", site.key, "/ui")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    page.click("text=Sign out")
    expect(page.locator("h1")).to_have_text("Sign in")
    assert context.cookies() == []
    context.close()


def test_runs_list_shows_the_runs_and_filters_narrow_it(page: Page, site: Site) -> None:
    runs = site.runs
    everything = [runs.bank_run, runs.debate_run, *runs.bench_runs.values(), site.live_run]
    assert sorted(_row_ids(page)) == sorted(everything)
    assert _row_ids(page)[0] == site.live_run  # newest first
    page.screenshot(path=str(site.screenshots / "runs-list.png"), full_page=True)

    page.select_option("select[name=agent]", "bank")
    page.click("form.filters button[type=submit]")
    expect(page.locator("table.runs tbody tr")).to_have_count(1)
    assert _row_ids(page) == [runs.bank_run]
    assert "agent=bank" in page.url

    page.goto(f"{site.url}/ui")
    page.fill("input[name=q]", "6 times 7")
    page.click("form.filters button[type=submit]")
    expect(page.locator("table.runs tbody tr")).to_have_count(2)
    assert sorted(_row_ids(page)) == sorted([runs.debate_run, runs.bench_runs["q1"]])

    page.goto(f"{site.url}/ui")
    page.select_option("select[name=method]", "llm_debate")
    page.select_option("select[name=status]", "ok")
    page.click("form.filters button[type=submit]")
    expect(page.locator("table.runs tbody tr")).to_have_count(3)
    assert sorted(_row_ids(page)) == sorted([runs.debate_run, *runs.bench_runs.values()])


def test_run_tree_shows_prompts_tool_calls_policy_and_errors(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/ui/runs/{site.runs.bank_run}")
    tree = page.locator("[data-panel=tree]")
    expect(tree).to_be_visible()
    first_call = _span(page, "chat scripted").first
    prompt = first_call.locator("details.prompt")
    expect(prompt.locator("pre.text").first).to_be_hidden()
    prompt.locator("summary").click()
    expect(prompt.locator(".msg")).to_have_count(2)
    expect(prompt.locator(".msg").nth(0)).to_contain_text(BANK_SYSTEM)
    expect(prompt.locator(".msg").nth(1)).to_contain_text(BANK_TASK)
    expect(first_call.locator(".completion")).to_contain_text('send_money({"recipient": "mallory", "amount": 5})')

    denied = _span(page, "execute_tool send_money", error=True)
    expect(denied.locator(".tool pre.args")).to_contain_text('"recipient": "mallory"')
    expect(denied.locator(".tool pre.result")).to_contain_text("policy denied send_money")
    expect(denied.locator(".event.ev-deny")).to_have_text(
        "policy: deny send_money (no rule of the policy allows this call); fallback: error"
    )
    allowed = _span(page, "execute_tool send_money", error=False)
    expect(allowed.locator(".tool pre.result")).to_have_text("sent 3 to alice")
    expect(allowed.locator(".event.ev-allow")).to_contain_text("policy: allow send_money")
    expect(page.locator(".errors")).to_contain_text("PolicyDenied")
    expect(page.locator(".facts")).to_contain_text("3 / 3")  # steps / calls

    # The answer is hostile markup: shown as text, never run.
    expect(page.locator(".io pre.text").last).to_have_text(HOSTILE_ANSWER)
    assert page.evaluate("window.__pwned") is None
    page.screenshot(path=str(site.screenshots / "run-tree.png"), full_page=True)


def test_conversation_tabs_show_each_agents_messages(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/ui/runs/{site.runs.debate_run}")
    tabs = page.locator("[role=tab]")
    expect(tabs).to_have_text(["Span tree", "Usage", "All messages (3)", "debater_1", "debater_2"])
    for name in ("debater_1", "debater_2"):
        page.click(f"[role=tab]:text-is('{name}')")
        panel = page.locator(f"[data-panel]:not([hidden])[aria-label='Conversation of {name}']")
        expect(panel.locator(".msg")).to_have_count(2)
        expect(panel.locator(".msg").nth(0)).to_contain_text(DEBATE_QUESTION)
        expect(panel.locator(".msg").nth(1).locator(".who")).to_contain_text(f"assistant · {name}")
        expect(panel.locator(".msg").nth(1)).to_contain_text(DEBATE_REPLY)
        expect(page.locator("[data-panel=tree]")).to_be_hidden()

    page.goto(f"{site.url}/ui/runs/{site.runs.bank_run}")
    page.click("[role=tab]:text-is('bank')")
    bank = page.locator("[aria-label='Conversation of bank']")
    roles = [text.split(" ")[0] for text in bank.locator(".msg .who").all_inner_texts()]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "tool", "assistant"]
    expect(bank.locator(".msg.role-tool").last).to_contain_text("sent 3 to alice")


def test_bench_page_links_each_sample_to_its_run(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/ui/bench")
    expect(page.locator("h2", has_text="Summary")).to_be_visible()
    expect(page.locator(".plots img")).to_have_count(3)
    rows = page.locator("table.samples tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("What is 6 times 7?")
    expect(rows.nth(0).locator(".badge")).to_have_text("correct")
    expect(rows.nth(1)).to_contain_text("What is 2 plus 5?")
    expect(rows.nth(1).locator(".badge")).to_have_text("incorrect")
    rows.nth(1).locator("a.trace").click()
    run_id = site.runs.bench_runs["q2"]
    expect(page.locator("h1")).to_contain_text(run_id)
    assert page.url == f"{site.url}/ui/runs/{run_id}"
    expect(page.locator(".io pre.text").first).to_have_text("What is 2 plus 5?")


def test_a_running_run_updates_live(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/ui/runs/{site.live_run}")
    expect(page.locator("#live-note")).to_be_visible()
    expect(page.locator(".facts .badge")).to_have_text("running")
    expect(page.locator("details.span.running").first).to_contain_text("invoke_agent watcher")
    site.release.set()
    expect(page.locator(".facts .badge")).to_have_text("ok", timeout=WAIT_MS)
    expect(page.locator(".io pre.text").last).to_have_text(LIVE_ANSWER)
    expect(page.locator("#live-note")).to_be_hidden()
    expect(page.locator("details.span.running")).to_have_count(0)
