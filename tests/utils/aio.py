"""Run a coroutine to completion from sync test code, in its own thread and event loop, so
an event loop left running in the main thread (e.g. by Playwright's sync API) is no obstacle."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Awaitable, Callable


def run(coroutine_function: Callable[[], Awaitable[Any]]) -> Any:
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(coroutine_function())).result()
