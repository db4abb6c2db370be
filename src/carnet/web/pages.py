"""The pages of the three portals that exist today: home, the insured person's card, the
professional portal (read a card) and the back office's landing page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from carnet.kit import card_qr
from carnet.web import holder, i18n
from carnet.web.security import require_csrf
from carnet.web.templating import gettext as _t
from carnet.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_csrf)])


def _(message: str) -> str:
    """Marks a text for extraction; translated when shown (``_t``)."""
    return message


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    return render(request, "pages/home.html")


@router.get("/carte", response_class=HTMLResponse)
def card(request: Request) -> HTMLResponse:
    return render(request, "pages/card.html")


# The insured person's sign-in and card (holder.py), under the same CSRF check.
router.include_router(holder.router)


@router.get("/accessibilite", response_class=HTMLResponse)
def accessibility(request: Request) -> HTMLResponse:
    return render(request, "pages/accessibility.html")


@router.get("/gestion", response_class=HTMLResponse)
def backoffice(request: Request) -> HTMLResponse:
    return render(request, "backoffice/index.html")


@router.get("/lang/{code}")
def switch_language(
    request: Request, code: str, back_to: Annotated[str, Query(alias="next")] = "/"
) -> RedirectResponse:
    """The language switch: remembers the choice in a cookie and goes back to the page (on this
    site only: ``next`` must be a local path)."""
    local = back_to.startswith("/") and not back_to.startswith(("//", "/\\"))
    target = back_to if local else "/"
    response = RedirectResponse(target, status_code=303)
    if code in i18n.LANGUAGES:
        settings = request.app.state.settings
        response.set_cookie(
            i18n.LANGUAGE_COOKIE,
            code,
            max_age=365 * 24 * 3600,
            httponly=True,
            samesite="lax",
            secure=settings.web_cookie_secure,
        )
    return response


# -- professional portal ------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    kind: str  # DSFR alert type: info, success, warning, error
    title: str
    text: str


def _pro_page(
    request: Request,
    *,
    code: str = "",
    error: str | None = None,
    outcome: Outcome | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "pro/index.html",
        {
            "code": code,
            "error": error,
            "outcome": outcome,
            "max_length": card_qr.MAX_TEXT_LENGTH,
            "autofocus": error is None and outcome is None,
        },
        status_code=status_code,
    )


@router.get("/pro", response_class=HTMLResponse)
def pro_home(request: Request) -> HTMLResponse:
    return _pro_page(request)


def check_card_text(text: str, now: datetime) -> str | None:
    """What is wrong with a scanned card code, as a text to translate; None if it may be read.

    Only the form is checked here (no database, no signature): the card service checks the rest
    when a signed-in professional reads it.
    """
    if not text:
        return _("Scannez le code QR de la carte ou collez son texte.")
    try:
        parsed = card_qr.parse(text)
    except card_qr.CardQrError:
        return _(
            "Ce texte n’est pas un code de carte Carnet. Scannez à nouveau le code QR affiché "
            "par le patient."
        )
    if parsed.token.purpose != card_qr.PURPOSE_PRESENTATION:
        return _(
            "Ce code sert à la connexion du patient, pas à la lecture par un professionnel. "
            "Demandez au patient d’afficher sa carte."
        )
    if parsed.token.expires_at < int(now.timestamp()):
        return _(
            "Ce code a expiré. Demandez au patient d’afficher à nouveau sa carte : le code se "
            "renouvelle toutes les deux minutes."
        )
    return None


@router.post("/pro/lire-carte", response_class=HTMLResponse)
def pro_read_card(
    request: Request, code: Annotated[str, Form(max_length=4 * card_qr.MAX_TEXT_LENGTH)] = ""
) -> HTMLResponse:
    text = code.strip()
    problem = check_card_text(text, datetime.now(UTC))
    if problem is not None:
        shown = text if len(text) <= card_qr.MAX_TEXT_LENGTH else ""
        return _pro_page(request, code=shown, error=_t(request, problem), status_code=422)
    # Reading needs a signed-in professional (apcv_service.create_context with their identity):
    # professional sign-in is the next step of the portal.
    return _pro_page(
        request,
        outcome=Outcome(
            "warning",
            _t(request, "Connexion requise"),
            _t(
                request,
                "Le code est bien celui d’une carte Carnet. Connectez-vous en tant que "
                "professionnel de santé pour la lire : la connexion arrive dans une prochaine "
                "version.",
            ),
        ),
    )
