"""Small valid (and broken) documents of each accepted format, made on the fly."""

from __future__ import annotations

import io
import json

from PIL import Image
from pypdf import PdfWriter


def pdf(pages: int = 1, note: str = "") -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    if note:
        writer.add_metadata({"/Title": note})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def png(width: int = 8, height: int = 6) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def jpeg(width: int = 16, height: int = 16) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (30, 30, 200)).save(out, format="JPEG")
    return out.getvalue()


CDA = b"""<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3">
  <typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
  <code code="11502-2" codeSystem="2.16.840.1.113883.6.1"/>
  <title>Compte rendu de biologie</title>
</ClinicalDocument>
"""

NOT_CDA = b"""<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><body/></html>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE ClinicalDocument [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<ClinicalDocument xmlns="urn:hl7-org:v3"><title>&xxe;</title></ClinicalDocument>
"""


def fhir_bundle() -> bytes:
    bundle = {
        "resourceType": "Bundle",
        "type": "document",
        "entry": [
            {
                "fullUrl": "urn:uuid:0c3b4f5e-9f5e-4a55-9b5f-9f8a2b7c1d11",
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "Poids"},
                    "valueQuantity": {"value": 72.5, "unit": "kg"},
                },
            }
        ],
    }
    return json.dumps(bundle).encode()


BAD_FHIR = json.dumps({"resourceType": "Bundle", "type": "not-a-type", "entry": "x"}).encode()
