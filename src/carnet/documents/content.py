"""Real content-type checks: the bytes must be what the declared content type says, and parse.

Accepted formats and their declared types:

- PDF: ``application/pdf`` (``%PDF-`` header, ``%%EOF`` trailer, parsed by pypdf);
- JPEG, PNG: ``image/jpeg``, ``image/png`` (magic bytes, Pillow ``verify``);
- CDA R2: ``text/xml``, ``application/xml``, ``application/hl7-cda+xml`` (XML whose root is
  ``ClinicalDocument`` in ``urn:hl7-org:v3``; parsed by defusedxml: no DTD, no entities);
- FHIR: ``application/fhir+json`` (a JSON resource or Bundle validated by fhir.resources.R4B).

A declared type outside this list, or bytes of another format, is a 415; bytes of the declared
format that do not parse are a 422. Each message says what was expected and what was found.
"""

from __future__ import annotations

import io
import json
import warnings
from dataclasses import dataclass

from carnet.documents.exceptions import InvalidContent, UnsupportedContentType

PDF = "application/pdf"
JPEG = "image/jpeg"
PNG = "image/png"
CDA = "text/xml"
FHIR = "application/fhir+json"

# Declared type (lower case, no parameters) → the canonical type stored.
ACCEPTED_TYPES: dict[str, str] = {
    PDF: PDF,
    JPEG: JPEG,
    "image/jpg": JPEG,
    PNG: PNG,
    CDA: CDA,
    "application/xml": CDA,
    "application/hl7-cda+xml": CDA,
    FHIR: FHIR,
    "application/json": FHIR,
    "application/fhir+xml": "",  # known but refused below with a precise message
}
FORMAT_NAMES = {PDF: "PDF", JPEG: "JPEG image", PNG: "PNG image", CDA: "CDA document", FHIR: "FHIR"}
ACCEPTED_LIST = "application/pdf, image/jpeg, image/png, text/xml (CDA R2), application/fhir+json"
CDA_NAMESPACE = "urn:hl7-org:v3"


@dataclass(frozen=True, slots=True)
class CheckedContent:
    content_type: str  # canonical
    description: str  # e.g. "PDF, 3 pages", "PNG image 640×480", "FHIR Bundle"


def canonical_type(declared: str | None) -> str:
    """The canonical content type for a declared one; 415 when it is not accepted."""
    value = (declared or "").split(";")[0].strip().lower()
    if not value or value == "application/octet-stream":
        raise UnsupportedContentType(
            "the content type of the file is not declared: give one of " + ACCEPTED_LIST
        )
    canonical = ACCEPTED_TYPES.get(value)
    if not canonical:
        raise UnsupportedContentType(
            f"the content type {value!r} is not accepted: give one of {ACCEPTED_LIST}"
        )
    return canonical


def sniff(data: bytes) -> str | None:
    """The canonical type the bytes look like (magic numbers), None when unknown."""
    if data.startswith(b"%PDF-"):
        return PDF
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    head = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return CDA
    if head.startswith((b"{", b"[")):
        return FHIR
    return None


def check_content(declared: str | None, data: bytes) -> CheckedContent:
    """Check that ``data`` is a valid document of the declared type (415 / 422 otherwise)."""
    content_type = canonical_type(declared)
    if not data:
        raise InvalidContent("the file is empty")
    found = sniff(data)
    if found != content_type:
        what = FORMAT_NAMES.get(found or "", "of no accepted format")
        article = "" if found is None else "a "
        raise UnsupportedContentType(
            f"the file was declared {content_type} ({FORMAT_NAMES[content_type]}) but its "
            f"content is {article}{what}: declare the right type or send the right file"
        )
    checker = {PDF: _check_pdf, JPEG: _check_image, PNG: _check_image, CDA: _check_cda}.get(
        content_type, _check_fhir
    )
    return CheckedContent(content_type, checker(data, content_type))


def _check_pdf(data: bytes, _content_type: str) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    if b"%%EOF" not in data[-1024:]:
        raise InvalidContent("not a valid PDF: the %%EOF trailer is missing (truncated file?)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader = PdfReader(io.BytesIO(data), strict=False)
            pages = len(reader.pages)
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise InvalidContent(f"not a valid PDF: {exc}") from exc
    if pages < 1:
        raise InvalidContent("not a valid PDF: it has no page")
    return f"PDF, {pages} page{'s' if pages > 1 else ''}"


def _check_image(data: bytes, content_type: str) -> str:
    from PIL import Image, UnidentifiedImageError

    name = FORMAT_NAMES[content_type]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                fmt = image.format
                image.verify()
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as exc:
        raise InvalidContent(f"not a valid {name}: {exc}") from exc
    if fmt not in ("JPEG", "PNG"):
        raise InvalidContent(f"not a valid {name}: Pillow reads it as {fmt}")
    return f"{name} {width}×{height}"


def _check_cda(data: bytes, _content_type: str) -> str:
    from xml.etree.ElementTree import ParseError

    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring

    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise InvalidContent(
            f"not an accepted CDA document: DTDs and entities are refused ({exc})"
        ) from exc
    except ParseError as exc:
        raise InvalidContent(f"not a valid CDA document: the XML does not parse ({exc})") from exc
    expected = f"{{{CDA_NAMESPACE}}}ClinicalDocument"
    if root.tag != expected:
        raise InvalidContent(
            f"not a CDA document: the XML root is {root.tag!r}, expected ClinicalDocument in "
            f"the namespace {CDA_NAMESPACE}"
        )
    return "CDA R2 document"


def _check_fhir(data: bytes, _content_type: str) -> str:
    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import ValidationError

    try:
        resource = json.loads(data)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidContent(f"not a valid FHIR document: the JSON does not parse ({exc})") from exc
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        raise InvalidContent("not a FHIR document: a JSON object with a resourceType is expected")
    resource_type = resource["resourceType"]
    try:
        model = get_fhir_model_class(resource_type)
    except (KeyError, ValueError, AttributeError, ImportError) as exc:
        raise InvalidContent(
            f"not a FHIR document: {resource_type!r} is not a FHIR R4 resource type"
        ) from exc
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise InvalidContent(
            f"not a valid FHIR {resource_type}: {where or resource_type}: {first.get('msg')}"
            f" ({exc.error_count()} error(s))"
        ) from exc
    return f"FHIR {resource_type}"
