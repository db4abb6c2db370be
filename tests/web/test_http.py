"""The web layer over HTTP (no browser): error pages by path, security headers, sessions, CSRF,
language negotiation, the web app manifest."""

from __future__ import annotations

import json
import re
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from carnet.config import Settings
from carnet.db import Database
from carnet.kit import card_qr
from carnet.main import create_app
from carnet.web import i18n
from carnet.web.sessions import SECURE_COOKIE, SessionCodec, WebSession
from tests.web.conftest import card_code


@pytest.fixture
def web(settings: Settings, db: Database) -> Iterator[TestClient]:
    # https: the session cookie is Secure, so a client only sends it back over https.
    with TestClient(
        create_app(settings, db), raise_server_exceptions=False, base_url="https://testserver"
    ) as client:
        yield client


def _token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def test_unknown_page_is_a_french_html_404_but_apis_keep_their_format(web: TestClient) -> None:
    page = web.get("/nulle-part")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "<h1>Page non trouvée</h1>" in page.text
    api = web.get("/api/v1/nulle-part")
    assert api.json()["error"]["code"] == "not_found"
    fhir = web.get("/fhir/Nothing/1")
    assert fhir.json()["resourceType"] == "OperationOutcome"
    token = web.post("/oauth2/token", data={})
    assert token.headers["content-type"].startswith("application/json")


def test_error_page_in_english(web: TestClient) -> None:
    page = web.get("/nowhere", headers={"Accept-Language": "en-US,en;q=0.8"})
    assert "<h1>Page not found</h1>" in page.text
    assert page.headers["content-language"] == "en"


def test_method_not_allowed_on_a_page(web: TestClient) -> None:
    page = web.get("/pro/lire-carte")
    assert page.status_code == 405
    assert "Action impossible" in page.text


def test_security_headers(web: TestClient) -> None:
    page = web.get("/")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "same-origin"
    assert page.headers["cache-control"] == "no-store"
    api = web.get("/healthz")
    assert api.headers["content-security-policy"].startswith("default-src 'none'")
    assert api.headers["x-content-type-options"] == "nosniff"


def test_templates_carry_no_inline_script_or_style(web: TestClient) -> None:
    for path in ("/", "/carte", "/pro", "/gestion", "/accessibilite", "/nulle-part"):
        html = web.get(path).text
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        assert "<style" not in html, path
        assert " style=" not in html, path
        assert not re.search(r"\son[a-z]+=", html), path


def test_session_cookie_attributes(web: TestClient) -> None:
    cookie = web.get("/").headers["set-cookie"]
    assert cookie.startswith(SECURE_COOKIE + "=")
    for attribute in ("HttpOnly", "Secure", "SameSite=Lax", "Path=/"):
        assert attribute in cookie
    # The same session comes back: no new cookie on the next request.
    assert "set-cookie" not in web.get("/carte").headers


def test_plain_cookie_for_http_development(settings: Settings, db: Database) -> None:
    plain = settings.model_copy(update={"web_cookie_secure": False})
    with TestClient(create_app(plain, db)) as client:
        cookie = client.get("/").headers["set-cookie"]
        assert cookie.startswith("carnet_session=")
        assert "Secure" not in cookie


def test_csrf_token_in_a_field_or_the_htmx_header(web: TestClient) -> None:
    token = _token(web.get("/pro").text)
    assert web.post("/pro/lire-carte", data={"code": "x"}).status_code == 403
    assert web.post("/pro/lire-carte", data={"code": "x", "csrf_token": token}).status_code == 422
    htmx = web.post(
        "/pro/lire-carte", data={"code": "x"}, headers={"X-CSRF-Token": token, "HX-Request": "true"}
    )
    assert htmx.status_code == 422
    other_session = TestClient(web.app, base_url="https://testserver")
    refused = other_session.post("/pro/lire-carte", data={"code": "x", "csrf_token": token})
    assert refused.status_code == 403
    assert "Formulaire expiré" in refused.text


def test_idle_session_is_dropped_and_said(settings: Settings, web: TestClient) -> None:
    codec = SessionCodec(settings)
    now = int(time.time())
    idle = now - settings.web_session_idle_minutes * 60 - 5
    old = WebSession("old-session-id", "old-csrf", idle, idle, {"professional_id": 1})
    web.cookies.set(SECURE_COOKIE, codec.dump(old), domain="testserver.local")
    page = web.get("/")
    assert "Votre session a expiré" in page.text
    renewed = codec.load(page.cookies[SECURE_COOKIE], now)
    assert renewed.sid != "old-session-id"
    assert not renewed.signed_in
    assert _token(web.get("/pro").text) != "old-csrf"


def test_sessions_expire_rotate_and_resist_tampering(settings: Settings) -> None:
    codec = SessionCodec(settings)
    now = int(time.time())
    session = WebSession.fresh(now)
    session.sign_in({"professional_id": 7}, now)
    before = (session.sid, session.csrf_token)
    loaded = codec.load(codec.dump(session), now + 30)
    assert loaded.identity == {"professional_id": 7}
    assert not loaded.modified
    loaded.sign_in({"professional_id": 8}, now + 30)
    assert (loaded.sid, loaded.csrf_token) != before  # rotation at sign-in
    too_old = codec.load(codec.dump(session), now + settings.web_session_max_hours * 3600 + 1)
    assert too_old.expired
    assert not too_old.signed_in
    forged = codec.dump(session)[:-2] + "xx"
    assert not codec.load(forged, now).signed_in
    seen_later = codec.load(codec.dump(session), now + 120)
    assert seen_later.modified
    assert seen_later.seen_at == now + 120


@pytest.mark.parametrize(
    ("cookie", "accept", "expected"),
    [
        (None, None, "fr"),
        (None, "en-GB,en;q=0.9", "en"),
        (None, "de-DE,de;q=0.9,en;q=0.5", "en"),
        (None, "fr-CA,en;q=0.9", "fr"),
        (None, "en;q=0.5,fr;q=0.8", "fr"),
        (None, "en;q=0", "fr"),
        (None, "de", "fr"),
        ("en", "fr-FR", "en"),
        ("xx", "en", "en"),
    ],
)
def test_language_negotiation(cookie: str | None, accept: str | None, expected: str) -> None:
    assert i18n.negotiate(cookie, accept) == expected


def test_language_switch_sets_a_cookie_and_stays_on_site(web: TestClient) -> None:
    switched = web.get("/lang/en?next=/carte", follow_redirects=False)
    assert switched.status_code == 303
    assert switched.headers["location"] == "/carte"
    assert "carnet_lang=en" in switched.headers["set-cookie"]
    assert "My digital health insurance card" in web.get("/carte").text
    for hostile in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        away = web.get("/lang/fr", params={"next": hostile}, follow_redirects=False)
        assert away.headers["location"] == "/"


def _png_size(path: Path) -> tuple[int, int]:
    width, height = struct.unpack(">II", path.read_bytes()[16:24])
    return width, height


def test_web_app_manifest_and_icons(web: TestClient) -> None:
    response = web.get("/manifest.webmanifest")
    assert response.headers["content-type"].startswith("application/manifest+json")
    manifest = json.loads(response.text)
    assert manifest["short_name"] == "Carnet"
    assert manifest["start_url"] == "/"
    sizes = {icon["sizes"]: icon["src"] for icon in manifest["icons"]}
    static = Path(__file__).resolve().parents[2] / "src" / "carnet" / "web" / "static"
    for size in ("192x192", "512x512"):
        assert web.get(sizes[size]).status_code == 200
        width, height = _png_size(static / sizes[size].removeprefix("/static/app/"))
        assert f"{width}x{height}" == size
    assert web.get("/static/vendor/dsfr/dsfr.min.css").status_code == 200
    assert web.get("/static/vendor/htmx/htmx.min.js").status_code == 200


def test_unexpected_error_on_a_page_is_a_page_with_a_reference(
    settings: Settings, db: Database
) -> None:
    app = create_app(settings, db)

    def broken() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/en-panne", broken, include_in_schema=False)
    with TestClient(app, raise_server_exceptions=False, base_url="https://testserver") as client:
        page = client.get("/en-panne")
    assert page.status_code == 500
    assert "<h1>Erreur inattendue</h1>" in page.text
    assert "a bug" not in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert re.search(r"Référence à communiquer à l’assistance : [0-9a-f-]{36}", page.text)


@pytest.mark.parametrize(
    ("code", "status", "message"),
    [
        ("", 422, "Scannez le code QR de la carte ou collez son texte."),
        ("   ", 422, "Scannez le code QR de la carte ou collez son texte."),
        ("CV1:%%%", 422, "n’est pas un code de carte Carnet"),
        ("X" * 5000, 422, "Saisie incorrecte"),  # refused before any parsing
        ("expired", 422, "Ce code a expiré"),
        ("session", 422, "Ce code sert à la connexion du patient"),
        ("card", 200, "Connectez-vous en tant que professionnel de santé pour la lire"),
    ],
)
def test_card_reading_form_checks(web: TestClient, code: str, status: int, message: str) -> None:
    made = {
        "expired": lambda: card_code(card_qr.PURPOSE_PRESENTATION, -60),
        "session": lambda: card_code(card_qr.PURPOSE_SESSION, 120),
        "card": lambda: card_code(card_qr.PURPOSE_PRESENTATION, 120),
    }
    text = made[code]() if code in made else code
    token = _token(web.get("/pro").text)
    response = web.post("/pro/lire-carte", data={"code": text, "csrf_token": token})
    assert response.status_code == status
    assert message in response.text
