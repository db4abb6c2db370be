"""The portals in a real browser: French and English, the language switch, the keyboard, the
session cookie and the CSRF refusal."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import ContextFactory

HEADINGS = {
    "/": ("Votre santé, votre identité, votre carte", "Your health, your identity, your card"),
    "/carte": ("Ma carte d’assurance maladie numérique", "My digital health insurance card"),
    "/pro": ("Espace professionnels de santé", "Health professionals' portal"),
    "/gestion": ("Espace de gestion", "Back office"),
    "/accessibilite": ("Déclaration d’accessibilité", "Accessibility statement"),
}


@pytest.mark.parametrize("path", list(HEADINGS))
def test_pages_render_in_french_and_english(new_context: ContextFactory, path: str) -> None:
    french, english = HEADINGS[path]
    for locale, heading, lang in (("fr-FR", french, "fr"), ("en-GB", english, "en")):
        page = new_context(locale=locale).new_page()
        response = page.goto(path)
        assert response is not None
        assert response.status == 200
        expect(page.locator("html")).to_have_attribute("lang", lang)
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        # The DSFR header: the Marianne block, the service name, skip links, the footer.
        expect(page.locator("header .fr-logo").first).to_contain_text("République")
        expect(page.locator(".fr-header__service-title")).to_have_text("Carnet")
        expect(page.locator(".fr-skiplinks a").first).to_have_attribute("href", "#contenu")
        expect(page.locator("footer#pied-de-page")).to_be_visible()


def test_language_switch_is_remembered(page: Page) -> None:
    page.goto("/carte")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Ma carte d’assurance maladie numérique"
    )
    page.locator("#language-button").click()
    page.get_by_role("link", name="EN - English").click()
    expect(page).to_have_url(re.compile(r"/carte$"))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("My digital health insurance card")
    # The choice outlives the page, over the browser's French preference.
    page.goto("/pro")
    expect(page.get_by_role("heading", level=1)).to_have_text("Health professionals' portal")
    page.locator("#language-button").click()
    page.get_by_role("link", name="FR - Français").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Espace professionnels de santé")


def test_the_switch_never_redirects_elsewhere(page: Page, base_url: str) -> None:
    page.goto("/lang/en?next=//evil.example/")
    assert page.url == base_url + "/"
    expect(page.locator("html")).to_have_attribute("lang", "en")


def _focus_path(page: Page, presses: int) -> list[str]:
    """Tab through the page; the accessible name (or id) of each element that gets the focus."""
    seen: list[str] = []
    for _ in range(presses):
        page.keyboard.press("Tab")
        seen.append(
            page.evaluate(
                """() => { const e = document.activeElement;
                   return (e.id ? '#' + e.id + ' ' : '') + (e.getAttribute('aria-label')
                     || e.innerText || e.value || e.tagName).trim().replace(/\\s+/g, ' '); }"""
            )
        )
    return seen


def test_keyboard_reaches_the_main_controls(page: Page) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto("/")
    path = _focus_path(page, 14)
    assert path[0] == "Contenu"  # the first skip link comes first
    joined = " | ".join(path)
    for control in ("Paramètres d’affichage", "#language-button", "Ma carte", "Professionnels"):
        assert control in joined, joined
    # The skip link moves the focus to the content.
    page.goto("/")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile("#contenu$"))
    # The card-reading form, with the keyboard only (as a scanner types, ending with Enter).
    page.goto("/pro")
    expect(page.locator("#code-carte")).to_be_focused()
    page.keyboard.type("NOT-A-CARD")
    page.keyboard.press("Enter")
    error = page.locator("#code-carte-erreur")
    expect(error).to_contain_text("n’est pas un code de carte Carnet")
    expect(page.locator("#code-carte")).to_be_focused()
    expect(page.locator("#code-carte")).to_have_attribute("aria-invalid", "true")


def test_mobile_menu_opens_with_the_keyboard(new_context: ContextFactory) -> None:
    page = new_context(viewport={"width": 375, "height": 740}, is_mobile=True).new_page()
    page.goto("/")
    menu = page.locator("#menu-button")
    expect(menu).to_be_visible()
    menu.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#menu-modal").get_by_role("link", name="Ma carte")).to_be_visible()


def test_htmx_replaces_only_the_form(page: Page) -> None:
    page.goto("/pro")
    page.evaluate("() => { window.__stayed = true; }")
    page.locator("#code-carte").fill("")
    page.get_by_role("button", name="Lire la carte").click()
    expect(page.locator("#code-carte-erreur")).to_contain_text("Scannez le code QR")
    assert page.evaluate("() => window.__stayed === true")  # no full page load


def test_session_cookie_flags(page: Page) -> None:
    page.goto("/")
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["__Host-carnet_session"]
    assert session["httpOnly"] is True
    assert session["secure"] is True
    assert session["sameSite"] == "Lax"
    assert session["path"] == "/"
    assert page.evaluate("() => document.cookie").find("carnet_session") == -1


def test_post_without_csrf_token_is_refused_with_a_clear_page(page: Page) -> None:
    page.goto("/pro")
    # A form posted from elsewhere carries the cookie (same-site here) but not the token.
    refused = page.request.post("/pro/lire-carte", form={"code": "CV1:ABC"})
    assert refused.status == 403
    assert "Formulaire expiré" in refused.text()
    wrong = page.request.post("/pro/lire-carte", form={"code": "x", "csrf_token": "forged"})
    assert wrong.status == 403
    # The same request from the page itself (hidden field and htmx header) is accepted.
    token = page.locator("input[name=csrf_token]").input_value()
    accepted = page.request.post("/pro/lire-carte", form={"code": "x", "csrf_token": token})
    assert accepted.status == 422


def test_csrf_page_in_the_browser(page: Page) -> None:
    page.goto("/pro")
    page.evaluate(
        """() => { document.querySelector('input[name=csrf_token]').remove();
                   const form = document.querySelector('#lecture-carte form');
                   form.removeAttribute('hx-post'); htmx.process(document.body); }"""
    )
    page.evaluate("() => document.querySelector('#lecture-carte form').submit()")
    expect(page.get_by_role("heading", level=1)).to_have_text("Formulaire expiré")


def test_no_content_security_policy_violation(new_context: ContextFactory) -> None:
    page = new_context().new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    for path in ("/", "/carte", "/pro", "/gestion", "/accessibilite"):
        page.goto(path)
        page.wait_for_load_state("networkidle")
    page.goto("/pro")
    page.get_by_role("button", name="Lire la carte").click()
    expect(page.locator("#code-carte-erreur")).to_be_visible()
    # The form's 422 (invalid input, re-rendered with its message) is expected; nothing else.
    assert [p for p in problems if "status of 422" not in p] == []


def test_dark_theme_from_the_display_settings(page: Page) -> None:
    page.goto("/")
    page.get_by_role("button", name="Paramètres d’affichage").first.click()
    page.get_by_text("Thème sombre").click()
    expect(page.locator("html")).to_have_attribute("data-fr-theme", "dark")
    page.goto("/carte")
    expect(page.locator("html")).to_have_attribute("data-fr-theme", "dark")
