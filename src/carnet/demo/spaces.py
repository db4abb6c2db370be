"""The demo's health spaces: the demo holder's and their children's spaces opened, a medical
profile, and documents from the demo doctor (synthetic, written by us).

Everything goes through the domain services, as the API would: the fund records the opening
for the family (``operator_transition``), the demo doctor is in a care relationship (as after a
card reading) and uploads the reports with the ``dmp`` scope, checked and encrypted like any
upload.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from carnet.access.service import access_service
from carnet.auth.principal import Principal
from carnet.config import Settings
from carnet.db import Database
from carnet.documents.schemas import DocumentMetadata
from carnet.documents.service import documents_service
from carnet.exceptions import Conflict
from carnet.profile.service import profile_service
from carnet.rights.service import rights_service
from carnet.space.service import Transition, space_service

# (class code, type code, title, days before today, lines of the report)
DEMO_DOCUMENTS: tuple[tuple[str, str, str, int, tuple[str, ...]], ...] = (
    (
        "10",
        "11502-2",
        "Bilan sanguin",
        40,
        (
            "Compte rendu d'examens de biologie medicale",
            "Hemoglobine 13,8 g/dL - Glycemie a jeun 0,92 g/L",
            "Cholesterol LDL 1,21 g/L - Creatinine 8,1 mg/L",
            "Document de demonstration : donnees fictives.",
        ),
    ),
    (
        "11",
        "60591-5",
        "Volet de synthese medicale",
        12,
        (
            "Volet de synthese medicale (VSM)",
            "Antecedents : appendicectomie (2004). Allergie : penicilline.",
            "Traitement : aucun traitement au long cours.",
            "Document de demonstration : donnees fictives.",
        ),
    ),
)


@dataclass(frozen=True)
class SpaceDemo:
    person_ids: list[int]
    documents: int


def report_pdf(lines: tuple[str, ...]) -> bytes:
    """A one-page A4 PDF with ``lines`` of text (Helvetica; ASCII only), built by hand: the
    demo's reports must be real PDFs that pass the upload's content checks."""
    text = "BT /F1 12 Tf 72 770 Td 16 TL " + " ".join(
        "(" + line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ") '"
        for line in lines
    )
    stream = text + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        "/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("ascii")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode("ascii")
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode("ascii")
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
    ).encode("ascii")
    return bytes(out)


def _open(session: Session, settings: Settings, person_id: int, now: datetime) -> bool:
    """Open the space (as the fund would, at the holder's request); False if it was open."""
    try:
        space_service.operator_transition(
            session, settings, str(person_id), Transition.OPENING, now
        )
    except Conflict:
        return False
    return True


def load_space_demo(
    database: Database,
    settings: Settings,
    *,
    holder_nir: str,
    doctor_professional_id: int,
    doctor_client_id: str,
) -> SpaceDemo:
    """Open the family's spaces and fill the holder's (idempotent: only a space this call
    opened gets a profile and documents)."""
    now = datetime.now(UTC)
    doctor = Principal(
        client_id=doctor_client_id,
        scopes=frozenset({"dmp"}),
        professional_id=doctor_professional_id,
    )
    documents = 0
    with database.session() as session:
        holder_id = space_service.person_for(session, holder_nir)
        children = [
            d.person_id for d in rights_service.dependants_of(session, holder_id, now.date())
        ]
        opened_holder = _open(session, settings, holder_id, now)
        for child in children:
            _open(session, settings, child, now)
        if opened_holder:
            profile_service.write_demo_profile(session, holder_id, now=now)
            access_service.note_care_relationship(
                session,
                person_id=holder_id,
                professional_id=doctor_professional_id,
                source="card_reading",
                now=now,
            )
            for class_code, type_code, title, days, lines in DEMO_DOCUMENTS:
                documents_service.create(
                    session,
                    settings,
                    doctor,
                    str(holder_id),
                    DocumentMetadata(
                        class_code=class_code,
                        type_code=type_code,
                        title=title,
                        act_date=now.date() - timedelta(days=days),
                    ),
                    report_pdf(lines),
                    "application/pdf",
                    f"{title}.pdf",
                    now=now,
                )
                documents += 1
    return SpaceDemo([holder_id, *children], documents)
