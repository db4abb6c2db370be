"""Bodies of the documents API (holder REST) and the values the FHIR adapter shares."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field


class DocumentMetadata(BaseModel):
    """What the uploader says about a document (multipart fields, or a FHIR DocumentReference)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    class_code: str = Field(min_length=1, max_length=8)
    type_code: str = Field(min_length=1, max_length=16)
    title: str = Field(min_length=1, max_length=255)
    act_date: date | None = None
    # How the author is shown (e.g. "Dr Claire Morel, cardiologue"); defaults to the caller.
    author: str | None = Field(default=None, max_length=200)
    hidden_from_professionals: bool = False  # MASQUE_PS
    invisible_to_patient: bool = False  # INVISIBLE_PATIENT (a professional author, R1111-53)
    hidden_from_legal_representatives: bool = False  # INVISIBLE_REPRESENTANTS_LEGAUX


class CodeOut(BaseModel):
    code: str
    label: str
    system: str


class DocumentCodes(BaseModel):
    class_codes: list[CodeOut]
    type_codes: list[CodeOut]


class AuthorOut(BaseModel):
    label: str
    professional_id: int | None = None
    person_id: int | None = None


class VisibilityOut(BaseModel):
    hidden_from_professionals: bool
    invisible_to_patient: bool
    hidden_from_legal_representatives: bool
    # While invisible_to_patient: when the patient sees it anyway (R1111-53: upload + 1 month).
    patient_visible_from: datetime | None = None


class DocumentOut(BaseModel):
    id: str
    set_id: str
    version: int
    status: str
    person_id: int
    class_code: str
    class_label: str
    type_code: str
    type_label: str
    title: str
    act_date: date | None
    author: AuthorOut
    content_type: str
    filename: str | None
    size: int
    sha256: str
    visibility: VisibilityOut
    created_at: datetime
    deleted_at: datetime | None = None
    content_url: str


class DocumentPage(BaseModel):
    items: list[DocumentOut]
    offset: int
    limit: int
    next_offset: int | None


class VisibilityUpdate(BaseModel):
    """A change of a document's visibility; omitted fields stay as they are.

    The holder (or a parent) hides a document from professionals or shows it again; the
    professional author ends an announcement wait (``invisible_to_patient: false``) or hides a
    minor's document from the legal representatives.
    """

    model_config = ConfigDict(extra="forbid")

    hidden_from_professionals: bool | None = None
    invisible_to_patient: bool | None = None
    hidden_from_legal_representatives: bool | None = None


class DocumentQuery(BaseModel):
    """Filters of a space's listing (all optional; combined with AND)."""

    class_codes: list[str] = Field(default_factory=list)
    type_codes: list[str] = Field(default_factory=list)
    act_from: date | None = None
    act_to: date | None = None
    created_from: datetime | None = None
    created_before: datetime | None = None
    author: str | None = None  # text in the author's label
    author_professional_id: int | None = None
    text: str | None = None  # text in the title
    statuses: list[str] = Field(default_factory=lambda: ["current"])
    offset: int = Field(default=0, ge=0)
    limit: int = Field(default=50, ge=1, le=200)
