"""The information message (R1111-28) in French: e-mail subject and text, and postal letter.

It says what the space is, the date it opens without objection (6 weeks after the message), how
to object (online, by the API, or through the fund, which records it with ``carnet space
object``), how to open it earlier and how to close it later (archive 10 years, deletion on
request within 3 months, re-opening restores the data). A minor child's message goes to their
representatives, never to the child.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)


def french_date(day: date) -> str:
    """4 janvier 2027 (1er for the first of the month)."""
    number = "1er" if day.day == 1 else str(day.day)
    return f"{number} {MONTHS[day.month - 1]} {day.year}"


@dataclass(frozen=True, slots=True)
class Named:
    """How a message names a person: first name and family name (the used ones if any)."""

    first_name: str
    family_name: str
    sex: str

    @property
    def full(self) -> str:
        return f"{self.first_name.title()} {self.family_name.upper()}".strip()

    @property
    def civility(self) -> str:
        return "Madame" if self.sex == "F" else "Monsieur"


@dataclass(frozen=True, slots=True)
class Message:
    subject: str
    text: str


def information(
    *,
    recipient: Named,
    child: Named | None,
    person_id: int,
    deadline: date,
    archive_years: int,
    deletion_months: int,
) -> Message:
    """The information message about ``person_id``'s space, to ``recipient`` (the person, or a
    representative of the minor ``child``)."""
    path = f"/api/v1/spaces/{'me' if child is None else person_id}"
    when = french_date(deadline)
    if child is None:
        subject = "Votre espace santé « Mon Espace Santé » va être ouvert"
        whose = "votre espace santé"
        intro = (
            "l'Assurance Maladie crée votre espace santé « Mon Espace Santé », service public "
            "gratuit et sécurisé prévu par l'article L1111-13-1 du code de la santé publique."
        )
        you = "vous"
    else:
        subject = f"L'espace santé de votre enfant {child.full} va être ouvert"
        whose = f"l'espace santé de {child.full}"
        intro = (
            f"l'Assurance Maladie crée l'espace santé « Mon Espace Santé » de votre enfant "
            f"{child.full}, service public gratuit et sécurisé prévu par l'article L1111-13-1 du "
            "code de la santé publique. En tant que représentant légal, vous le gérez depuis "
            "votre propre espace."
        )
        you = "votre enfant"
    text = f"""{recipient.civility} {recipient.full},

{intro[0].upper()}{intro[1:]}

Ce qu'il contient : le dossier médical partagé (DMP), où les professionnels de santé déposent
les comptes rendus, ordonnances, résultats d'analyses et d'imagerie, et où vous pouvez ajouter
vos propres documents ; un profil médical (antécédents, traitements, allergies, vaccinations,
mesures, directives anticipées) ; l'historique de tous les accès. Seuls les professionnels qui
soignent {you} peuvent le consulter, dans les limites fixées par la loi ; vous pouvez bloquer un
professionnel ou masquer un document.

Sans opposition de votre part, {whose} sera ouvert automatiquement le {when}, six semaines
après l'envoi de ce message.

Pour vous y opposer avant le {when} :
- en ligne, depuis l'application de la carte Vitale numérique (rubrique « Mon espace santé ») ;
- par l'interface de programmation : POST {path}/objection ;
- auprès de votre caisse d'assurance maladie, qui enregistre votre opposition
  (commande « carnet space object {person_id} »).

Pour l'ouvrir dès maintenant : POST {path}/opening.

Vous pourrez le fermer à tout moment (POST {path}/closure) : ses données sont alors archivées
pendant {archive_years} ans puis supprimées définitivement ; une demande de suppression
(POST {path}/deletion-request) est exécutée dans un délai de {deletion_months} mois au plus.
Une réouverture pendant l'archivage (POST {path}/reopening) restaure les données.

L'Assurance Maladie
"""
    return Message(subject=subject, text=text)


def letter(message: Message, recipient: Named) -> str:
    """The recorded postal letter: the same information, with its heading."""
    return (
        f"LETTRE RECOMMANDÉE — {recipient.civility} {recipient.full}\n"
        f"Objet : {message.subject}\n\n{message.text}"
    )
