"""`make screenshots`: the main pages of the portals, mobile and desktop, French and English, in
var/screenshots/*.png (Chromium through Playwright, against a throw-away local server)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from carnet.config import Settings
from carnet.db import Database
from tests.web.browser import launch, live_server

PAGES = {
    "home": "/",
    "card": "/carte",
    "card-sign-in": "/carte/connexion",
    "pro": "/pro",
    "backoffice": "/gestion",
    "not-found": "/page-inexistante",
}
SIZES = {"mobile": (375, 812), "desktop": (1280, 900)}


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="carnet-screenshots-"))
    settings = Settings(
        env="test",
        database_url=f"sqlite:///{workdir / 'carnet.db'}",
        data_dir=workdir,
        secret_key=os.environ.get("CARNET_SECRET_KEY", "screenshots-only-" + "x" * 32),
        log_level="WARNING",
    )
    database = Database(settings.database_url)
    count = 0
    with live_server(settings, database) as base, sync_playwright() as playwright:
        browser = launch(playwright)
        for lang, locale in (("fr", "fr-FR"), ("en", "en-GB")):
            for size, (width, height) in SIZES.items():
                context = browser.new_context(
                    base_url=base,
                    locale=locale,
                    viewport={"width": width, "height": height},
                    is_mobile=size == "mobile",
                    device_scale_factor=2 if size == "mobile" else 1,
                )
                page = context.new_page()
                for name, path in PAGES.items():
                    page.goto(path)
                    page.wait_for_load_state("networkidle")
                    page.screenshot(path=str(out / f"{name}-{size}-{lang}.png"), full_page=True)
                    count += 1
                # The card-reading form showing a validation message.
                page.goto("/pro")
                page.locator("#code-carte").fill("CV1:NOT-A-CARD")
                page.locator("#lecture-carte button[type=submit]").click()
                page.locator("#code-carte-erreur").wait_for()
                page.screenshot(path=str(out / f"pro-error-{size}-{lang}.png"), full_page=True)
                count += 1
                context.close()
        browser.close()
    database.dispose()
    print(f"{count} screenshots in {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "var/screenshots"))
