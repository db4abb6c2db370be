"""The pages of the three portals that exist today: home, the insured person's card, the
professional portal (read a card) and the back office's landing page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from carnet.web import backoffice, holder, holder_activation, i18n, pro, pro_signin, space
from carnet.web.security import require_csrf
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
# The professionals' sign-in, enrolment and account (pro_signin.py).
router.include_router(pro_signin.router)
router.include_router(holder_activation.router)
# The insured person's health space (space.py).
router.include_router(space.router)


@router.get("/accessibilite", response_class=HTMLResponse)
def accessibility(request: Request) -> HTMLResponse:
    return render(request, "pages/accessibility.html")


# The back office (/gestion: operators' sign-in, persons, cards, audit, figures): backoffice.py.
router.include_router(backoffice.router)


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


# The professional portal (pro.py): card reading, patient, documents, break-glass.
router.include_router(pro.router)
