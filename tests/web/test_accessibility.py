"""axe-core on every page of the portals, in every state we can reach today: 0 serious or
critical violations, in French and English, light and dark themes."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute, APIRouter
from playwright.sync_api import Page, expect
from starlette.routing import BaseRoute

from carnet.kit import card_qr
from carnet.web import holder
from carnet.web.pages import router
from tests.web.conftest import PAGES, ContextFactory, axe_violations, card_code


def _routes(parent: APIRouter) -> list[BaseRoute]:
    """Every route, through the included routers (FastAPI keeps them nested)."""
    found: list[BaseRoute] = []
    for route in parent.routes:
        included = getattr(route, "original_router", None)
        found.extend(_routes(included) if isinstance(included, APIRouter) else [route])
    return found


def test_the_page_list_covers_every_page_route() -> None:
    routes = {
        r.path
        for r in [*_routes(router), *holder.router.routes]
        if isinstance(r, APIRoute) and "GET" in r.methods and "{" not in r.path
    }
    assert routes == set(PAGES)


@pytest.mark.parametrize("locale", ["fr-FR", "en-GB"])
@pytest.mark.parametrize("path", PAGES)
def test_no_serious_violation(new_context: ContextFactory, path: str, locale: str) -> None:
    page = new_context(locale=locale).new_page()
    page.goto(path)
    page.wait_for_load_state("networkidle")
    assert axe_violations(page) == []


@pytest.mark.parametrize("path", ["/", "/pro"])
def test_no_serious_violation_in_dark_theme(new_context: ContextFactory, path: str) -> None:
    page = new_context(color_scheme="dark").new_page()
    page.goto(path)
    expect(page.locator("html")).to_have_attribute("data-fr-theme", "dark")
    page.wait_for_load_state("networkidle")
    assert axe_violations(page) == []


@pytest.mark.parametrize("width", [375, 1280])
def test_no_serious_violation_with_the_menu_and_dialogs_open(
    new_context: ContextFactory, width: int
) -> None:
    page = new_context(viewport={"width": width, "height": 800}).new_page()
    page.goto("/")
    page.wait_for_load_state("networkidle")
    if width < 992:
        page.locator("#menu-button").click()
        expect(page.locator("#menu-modal")).to_be_visible()
        assert axe_violations(page) == []
        page.keyboard.press("Escape")
    else:
        page.locator("#language-button").click()
        expect(page.locator("#translate-menu")).to_be_visible()
        assert axe_violations(page) == []
    page.get_by_role("button", name="Paramètres d’affichage").last.click()
    expect(page.locator("#fr-theme-modal")).to_be_visible()
    page.wait_for_timeout(600)  # the modal fades in: measure contrast once it is opaque
    assert axe_violations(page) == []


@pytest.mark.parametrize(
    ("kind", "shown"),
    [
        ("empty", "#code-carte-erreur"),
        ("garbage", "#code-carte-erreur"),
        ("card", "#resultat-lecture"),
    ],
)
def test_no_serious_violation_in_form_states(page: Page, kind: str, shown: str) -> None:
    # Made here, not at collection: a card code lives two minutes.
    texts = {"empty": "", "garbage": "CV1:NOT-BASE45"}
    code = texts[kind] if kind in texts else card_code(card_qr.PURPOSE_PRESENTATION, 120)
    page.goto("/pro")
    page.locator("#code-carte").fill(code)
    page.get_by_role("button", name="Lire la carte").click()
    expect(page.locator(shown)).to_be_visible()
    assert axe_violations(page) == []


@pytest.mark.parametrize("path", ["/page-inexistante", "/pro/lire-carte"])
def test_no_serious_violation_on_error_pages(page: Page, path: str) -> None:
    if path == "/pro/lire-carte":  # the CSRF refusal, rendered as a page
        page.goto("/pro")
        page.evaluate(
            """() => { document.querySelector('input[name=csrf_token]').value = 'forged';
                       document.querySelector('#lecture-carte form').submit(); }"""
        )
        expect(page.get_by_role("heading", level=1)).to_have_text("Formulaire expiré")
    else:
        response = page.goto(path)
        assert response is not None
        assert response.status == 404
        expect(page.get_by_role("heading", level=1)).to_have_text("Page non trouvée")
    assert axe_violations(page) == []
