"""The real stack (redis-server, Celery workers, two APIs: one open, one with API keys)
and a headless Chromium driven by Playwright, for testing the page as a person uses it.

Debian's chromium is used (``/usr/bin/chromium``; ``.ci/run`` installs it): Playwright's
own browser download is neither needed nor attempted. Screenshots go to
``test-artifacts/browser/`` (gitignored), kept after the run.

Everything here is module-scoped, not session-scoped: Playwright's sync API keeps an
asyncio loop running while it is open, which would break ``asyncio.run()`` in tests that
run later in the same session, and the stack's processes should not idle through them."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from services.core.embedded_redis import EmbeddedRedis
from tests.utils import stack

CHROMIUM = os.environ.get("DOCENRICH_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = stack.REPO / "test-artifacts" / "browser"
API_KEY = "browser-test-key-0123456789"
MAX_UPLOAD = 1024 * 1024


@pytest.fixture(scope="module")
def chromium_path() -> str:
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run does it)")
    return CHROMIUM


@pytest.fixture(scope="module")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def browser_log_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("browser-stack-logs")


@pytest.fixture(scope="module")
def browser_redis(tmp_path_factory, chromium_path):
    server = EmbeddedRedis(tmp_path_factory.mktemp("browser-redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser_env(browser_redis) -> dict[str, str]:
    return stack.base_env(
        browser_redis.url,
        DOCENRICH_MAX_UPLOAD_BYTES=str(MAX_UPLOAD),
        DOCENRICH_MAX_TEXT_CHARS="200000",
    )


@pytest.fixture(scope="module")
def browser_workers(browser_env, browser_log_dir):
    procs = [
        stack.start_worker("worker-language", "language", browser_env, browser_log_dir),
        stack.start_worker("worker-entities-summary", "entities,summary", browser_env, browser_log_dir),
    ]
    yield procs
    for proc in procs:
        proc.stop()


@pytest.fixture(scope="module")
def open_api(browser_env, browser_log_dir, browser_workers) -> str:
    """An API without keys: the page watches jobs with server-sent events."""
    proc, url = stack.start_api("api-open", browser_env, browser_log_dir)
    stack.wait_ready(url, 180, [proc, *browser_workers])
    yield url
    proc.stop()


@pytest.fixture(scope="module")
def keyed_api(browser_env, browser_log_dir, browser_workers) -> str:
    """The same store and workers behind an API that needs a key: the page polls."""
    env = {**browser_env, "DOCENRICH_API_KEYS": f"{API_KEY}:browser"}
    proc, url = stack.start_api("api-keyed", env, browser_log_dir)
    stack.wait_ready(url, 180, [proc, *browser_workers])
    yield url
    proc.stop()


@pytest.fixture(scope="module")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture()
def page(browser, request, artifacts):
    """A fresh page; uncaught script errors fail the test, and a failing test leaves a screenshot."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(20_000)
    page_errors: list[str] = []
    page.on("pageerror", lambda exc: page_errors.append(str(exc)))
    page.on("console", lambda msg: page_errors.append(msg.text) if msg.type == "error" and "Content Security Policy" in msg.text else None)
    yield page
    if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
        try:
            page.screenshot(path=str(artifacts / f"FAILED-{request.node.name}.png"), full_page=True)
        except Exception:
            pass
    context.close()
    assert not page_errors, f"errors in the page: {page_errors}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
