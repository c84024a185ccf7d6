"""Regenerate the README screenshot: the page on the seed article, against a real stack.

    .venv/bin/python -m tests.browser.screenshot [docs/screenshot-seed.png]

Starts redis-server, one worker on all queues and the API (as the browser tests do),
submits the seed in headless Chromium, selects the most mentioned person and captures the
progress and result panels. DOCENRICH_* variables pass through (e.g. a models dir)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from services.core.embedded_redis import EmbeddedRedis
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.utils import stack

SEED = stack.REPO / "seeds" / "000_53360ea83f30db1c.txt"


def capture(out: Path) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="docenrich-shot-"))
    redis = EmbeddedRedis(tmp / "redis").start()
    passthrough = {k: v for k, v in os.environ.items() if k.startswith("DOCENRICH_") and k != "DOCENRICH_REDIS_URL"}
    env = stack.base_env(redis.url, **passthrough)
    procs = [stack.start_worker("worker", "language,entities,summary", env, tmp)]
    try:
        api, url = stack.start_api("api", env, tmp)
        procs.append(api)
        stack.wait_ready(url, 180, procs)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url + "/")
            page.fill("#text", SEED.read_text(encoding="utf-8"))
            page.click("#submit")
            page.wait_for_selector("#result[data-state=done]", timeout=180_000)
            person = page.locator('#entities-out button.entity-button[data-label="PER"]').first
            if person.count():
                person.click()
            page.evaluate("document.querySelector('#document').scrollTop = 0; window.scrollTo(0, 0)")
            top = page.locator("#progress").bounding_box()
            result = page.locator("#result").bounding_box()
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(
                path=str(out),
                full_page=True,
                clip={"x": 0, "y": top["y"] - 12, "width": 1280, "height": result["y"] + result["height"] - top["y"] + 24},
            )
            browser.close()
    finally:
        for proc in reversed(procs):
            proc.stop()
        redis.stop()
    print(f"wrote {out}")


if __name__ == "__main__":
    capture(Path(sys.argv[1]) if len(sys.argv) > 1 else stack.REPO / "docs" / "screenshot-seed.png")
