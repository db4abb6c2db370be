"""Chromium for the browser tests and the screenshots: the system's /usr/bin/chromium driven by
Playwright (never `playwright install`), and a live Carnet server in a thread."""

from __future__ import annotations

import atexit
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from playwright.sync_api import Browser, Playwright, sync_playwright

from carnet.config import Settings
from carnet.db import Database
from carnet.main import create_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


def launch(playwright: Playwright) -> Browser:
    if not CHROMIUM.exists():
        raise RuntimeError(
            f"{CHROMIUM} is missing: `apt-get install -y chromium` (make setup does it)"
        )
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


_shared: tuple[Playwright, Browser] | None = None


def shared_browser() -> Browser:
    """One Chromium per test process, whichever conftest asks for it: Playwright's sync API
    refuses a second ``sync_playwright()`` in a thread where one is running (it would see "an
    asyncio loop"), and tests/web and tests/proauth both use browsers in the same xdist worker."""
    global _shared
    if _shared is None:
        playwright = sync_playwright().start()
        _shared = (playwright, launch(playwright))
        atexit.register(_stop_shared_browser)
    return _shared[1]


def _stop_shared_browser() -> None:
    global _shared
    if _shared is not None:
        playwright, browser = _shared
        _shared = None
        browser.close()
        playwright.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def live_server(settings: Settings, database: Database, port: int | None = None) -> Iterator[str]:
    """The application served by uvicorn on an ephemeral port; yields http://localhost:PORT.

    ``localhost`` (not 127.0.0.1): browsers treat it as a secure origin, so the ``Secure``
    ``__Host-`` session cookie works over plain http as it does in production over https.
    """
    port = port or free_port()
    app = create_app(settings, database)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, name="carnet-live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live server did not start")
        time.sleep(0.02)
    try:
        yield f"http://localhost:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
