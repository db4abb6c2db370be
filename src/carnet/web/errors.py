"""Error pages of the portals: an ``AppError`` or an HTTP error on a page is a DSFR page in the
visitor's language (``carnet.errors`` calls ``render_error_page`` for page paths only; the APIs
keep their JSON and OperationOutcome errors)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from carnet.kit.context import request_id_var
from carnet.web.security import page_headers
from carnet.web.templating import gettext, render


def _(message: str) -> str:
    return message


# Title and text by stable code, then by status; the API's English message is never shown.
_BY_CODE = {
    "csrf_refused": (
        _("Formulaire expiré"),
        _(
            "Pour votre sécurité, ce formulaire n’est plus valable (jeton de sécurité absent ou "
            "périmé). Rechargez la page et recommencez."
        ),
    ),
}
_BY_STATUS = {
    400: (
        _("Demande incorrecte"),
        _("La demande n’a pas pu être comprise. Vérifiez votre saisie."),
    ),
    401: (_("Connexion requise"), _("Connectez-vous pour accéder à cette page.")),
    403: (_("Accès refusé"), _("Vous n’avez pas le droit d’accéder à cette page.")),
    404: (
        _("Page non trouvée"),
        _(
            "La page que vous cherchez est introuvable. Si vous avez saisi l’adresse, vérifiez "
            "qu’elle est correcte."
        ),
    ),
    405: (_("Action impossible"), _("Cette page ne permet pas cette action.")),
    422: (_("Saisie incorrecte"), _("Certaines informations envoyées ne sont pas valides.")),
    429: (_("Trop de demandes"), _("Patientez quelques minutes avant de recommencer.")),
    500: (
        _("Erreur inattendue"),
        _(
            "Le service a rencontré un problème. Réessayez plus tard ; si le problème persiste, "
            "communiquez la référence ci-dessous à l’assistance."
        ),
    ),
}


def render_error_page(request: Request, status: int, code: str) -> HTMLResponse:
    title, text = (
        _BY_CODE.get(code) or _BY_STATUS.get(status) or _BY_STATUS[500 if status >= 500 else 400]
    )
    response = render(
        request,
        "error.html",
        {
            "title": gettext(request, title),
            "text": gettext(request, text),
            "status": status,
            "request_id": request_id_var.get() if status >= 500 else None,
        },
        status_code=status,
    )
    if status >= 500:  # rendered outside the middleware that adds them to every other page
        response.headers.update(page_headers())
    return response
