"""Render the web app's icon (src/carnet/web/static/icons/carnet.svg) to the PNG sizes of the
manifest with Chromium: `python -m tests.web.icons`. The PNGs are committed (small, ours)."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import sync_playwright

from tests.web.browser import launch

ICONS = Path(__file__).resolve().parents[2] / "src" / "carnet" / "web" / "static" / "icons"


def main() -> None:
    svg = (ICONS / "carnet.svg").read_text()
    with sync_playwright() as playwright:
        browser = launch(playwright)
        for size in (192, 512):
            page = browser.new_page(viewport={"width": size, "height": size})
            sized = svg.replace("<svg ", f'<svg width="{size}" height="{size}" ', 1)
            page.set_content(f"<html><body style='margin:0'>{sized}</body></html>")
            page.screenshot(path=str(ICONS / f"carnet-{size}.png"), omit_background=True)
            page.close()
        browser.close()


if __name__ == "__main__":
    main()
