"""The holder's documents API: upload of each format, listing, reading, versions, deletion,
visibility, content checks and limits, encryption at rest, and the audit trail."""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import text

from carnet.db import Database

from . import samples
from .conftest import SPACES, World


def test_upload_each_format_and_read_it_back(world: World) -> None:
    cases = [
        (samples.pdf(2), "application/pdf", "cr.pdf"),
        (samples.png(), "image/png", "photo.png"),
        (samples.jpeg(), "image/jpeg", "photo.jpg"),
        (samples.CDA, "text/xml", "cr-bio.xml"),
        (samples.fhir_bundle(), "application/fhir+json", "bundle.json"),
    ]
    for data, content_type, filename in cases:
        doc = world.uploaded(
            world.me(),
            data,
            content_type,
            filename=filename,
            act_date="2026-11-02",
            author="Laboratoire des Tilleuls",
        )
        assert doc["content_type"] == content_type
        assert doc["size"] == len(data)
        assert doc["sha256"] == hashlib.sha256(data).hexdigest()
        assert doc["status"] == "current"
        assert doc["version"] == 1
        assert doc["class_label"] == "Compte rendu"
        assert doc["act_date"] == "2026-11-02"
        assert doc["author"]["label"] == "Laboratoire des Tilleuls"
        assert doc["author"]["person_id"] == world.family.jeanne.id
        content = world.client.get(f"{SPACES}/me/documents/{doc['id']}/content", headers=world.me())
        assert content.status_code == 200, content.text
        assert content.content == data
        assert content.headers["content-type"].startswith(content_type)
        assert content.headers["x-content-type-options"] == "nosniff"
        assert filename in content.headers["content-disposition"]
        meta = world.client.get(f"{SPACES}/me/documents/{doc['id']}", headers=world.me())
        assert meta.status_code == 200
        assert meta.json() == doc


def test_contents_are_encrypted_at_rest_under_a_key_per_space(world: World, db: Database) -> None:
    marker = "MARQUEURENCLAIR0123456789"
    data = samples.pdf(note=marker)
    assert marker.encode() in data
    mine = world.uploaded(world.me(), data)
    paul = world.uploaded(world.me(world.family.paul), data)
    files = [p for p in world.blob_dir.rglob("*") if p.is_file()]
    assert len(files) == 2
    for path in files:
        stored = path.read_bytes()
        assert marker.encode() not in stored
        assert b"%PDF" not in stored
    # One blob per document, under its space; two spaces, two wrapped keys.
    assert (world.blob_dir / str(world.family.jeanne.id) / mine["id"]).is_file()
    assert (world.blob_dir / str(world.family.paul.id) / paul["id"]).is_file()
    with db.engine.connect() as c:
        keys = c.execute(text("SELECT person_id, wrapped_key FROM space_data_keys")).all()
    assert {k.person_id for k in keys} == {world.family.jeanne.id, world.family.paul.id}
    assert len({bytes(k.wrapped_key) for k in keys}) == 2


def test_an_altered_blob_is_refused_never_served(world: World) -> None:
    doc = world.uploaded(world.me())
    path = world.blob_dir / str(world.family.jeanne.id) / doc["id"]
    stored = bytearray(path.read_bytes())
    stored[-1] ^= 1
    path.write_bytes(bytes(stored))
    response = world.client.get(f"{SPACES}/me/documents/{doc['id']}/content", headers=world.me())
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "content_unavailable"


def test_declared_type_must_match_the_bytes(world: World) -> None:
    response = world.upload(world.me(), samples.png(), "application/pdf")
    assert response.status_code == 415
    error = response.json()["error"]
    assert error["code"] == "unsupported_content_type"
    assert "declared application/pdf" in error["message"]
    assert "PNG" in error["message"]

    response = world.upload(world.me(), b"MZ\x90\x00 an executable", "application/x-msdownload")
    assert response.status_code == 415
    assert "application/pdf, image/jpeg" in response.json()["error"]["message"]

    response = world.upload(world.me(), samples.pdf(), "application/octet-stream")
    assert response.status_code == 415
    assert "not declared" in response.json()["error"]["message"]


def test_broken_contents_are_refused_with_a_clear_reason(world: World) -> None:
    truncated = samples.pdf()[:-40]
    cases = [
        (truncated, "application/pdf", "%%EOF"),
        (b"%PDF-1.7\ngarbage\n%%EOF\n", "application/pdf", "not a valid PDF"),
        (samples.png()[:30], "image/png", "not a valid PNG image"),
        (samples.NOT_CDA, "text/xml", "ClinicalDocument"),
        (samples.XXE, "text/xml", "DTDs and entities are refused"),
        (b"<ClinicalDocument", "text/xml", "does not parse"),
        (samples.BAD_FHIR, "application/fhir+json", "not a valid FHIR Bundle"),
        (json.dumps({"resourceType": "Nope"}).encode(), "application/fhir+json", "'Nope'"),
    ]
    for data, content_type, expected in cases:
        response = world.upload(world.me(), data, content_type)
        assert response.status_code == 422, (expected, response.text)
        error = response.json()["error"]
        assert error["code"] == "invalid_content"
        assert expected in error["message"], error["message"]
    assert world.listing(world.me()) == []
    assert not [p for p in world.blob_dir.rglob("*") if p.is_file()]


def test_unknown_codes_name_the_field_and_where_the_codes_are(world: World) -> None:
    response = world.upload(world.me(), class_code="77", type_code="XYZ")
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "unknown_code"
    assert {d["field"] for d in error["details"]} == {"class_code", "type_code"}
    assert "/api/v1/document-codes" in error["message"]
    codes = world.client.get("/api/v1/document-codes", headers=world.me())
    assert codes.status_code == 200
    assert {"code": "10", "label": "Compte rendu"}.items() <= codes.json()["class_codes"][0].items()
    assert any(c["code"] == "DOCPAT08" for c in codes.json()["type_codes"])
    # A missing field is a 422 naming it.
    response = world.client.post(
        f"{SPACES}/me/documents",
        files={"file": ("a.pdf", samples.pdf(), "application/pdf")},
        data={"class_code": "10", "type_code": "11502-2"},
        headers=world.me(),
    )
    assert response.status_code == 422
    assert "title" in response.json()["error"]["message"]


def test_listing_filters_and_pages(world: World) -> None:
    a = world.uploaded(world.me(), title="Bilan sanguin mars", act_date="2026-03-01")
    b = world.uploaded(
        world.me(),
        samples.png(),
        "image/png",
        class_code="31",
        type_code="18748-4",
        title="Radio du genou",
        act_date="2026-05-10",
        author="Centre d'imagerie",
    )
    c = world.uploaded(
        world.me(),
        class_code="90",
        type_code="DOCPAT07",
        title="Certificat sport",
        act_date="2026-09-15",
    )
    me = world.me()
    assert world.listing(me) == [c["id"], b["id"], a["id"]]  # newest first
    assert world.listing(me, **{"class": "31"}) == [b["id"]]
    assert world.listing(me, type=["DOCPAT07", "11502-2"]) == [c["id"], a["id"]]
    assert world.listing(me, act_from="2026-04-01", act_to="2026-09-30") == [c["id"], b["id"]]
    assert world.listing(me, text="GENOU") == [b["id"]]
    assert world.listing(me, author="imagerie") == [b["id"]]
    assert world.listing(me, text="100%") == []
    page = world.client.get(f"{SPACES}/me/documents", params={"limit": 2}, headers=me).json()
    assert [i["id"] for i in page["items"]] == [c["id"], b["id"]]
    assert page["next_offset"] == 2
    page = world.client.get(
        f"{SPACES}/me/documents", params={"limit": 2, "offset": 2}, headers=me
    ).json()
    assert [i["id"] for i in page["items"]] == [a["id"]]
    assert page["next_offset"] is None
    bad = world.client.get(f"{SPACES}/me/documents", params={"type": "NOPE"}, headers=me)
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "unknown_code"
    bad = world.client.get(f"{SPACES}/me/documents", params={"limit": 0}, headers=me)
    assert bad.status_code == 422


def test_new_version_replaces_and_keeps_history(world: World) -> None:
    first = world.uploaded(world.me(), samples.pdf(1), title="Compte rendu v1")
    response = world.client.post(
        f"{SPACES}/me/documents/{first['id']}/versions",
        files={"file": ("v2.pdf", samples.pdf(2), "application/pdf")},
        data={"class_code": "10", "type_code": "11502-2", "title": "Compte rendu v2"},
        headers=world.me(),
    )
    assert response.status_code == 201, response.text
    second = response.json()
    assert second["set_id"] == first["id"]
    assert second["version"] == 2
    assert world.listing(world.me()) == [second["id"]]
    assert world.listing(world.me(), status="superseded") == [first["id"]]
    old = world.client.get(f"{SPACES}/me/documents/{first['id']}", headers=world.me()).json()
    assert old["status"] == "superseded"
    versions = world.client.get(
        f"{SPACES}/me/documents/{second['id']}/versions", headers=world.me()
    ).json()
    assert [(v["id"], v["version"]) for v in versions] == [(second["id"], 2), (first["id"], 1)]
    # The old version's content stays readable (history), and cannot be replaced again.
    old_content = world.client.get(
        f"{SPACES}/me/documents/{first['id']}/content", headers=world.me()
    )
    assert old_content.content == samples.pdf(1)
    again = world.client.post(
        f"{SPACES}/me/documents/{first['id']}/versions",
        files={"file": ("v3.pdf", samples.pdf(3), "application/pdf")},
        data={"class_code": "10", "type_code": "11502-2", "title": "v3"},
        headers=world.me(),
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "not_current_version"


def test_delete_erases_every_version(world: World) -> None:
    first = world.uploaded(world.me())
    second = world.client.post(
        f"{SPACES}/me/documents/{first['id']}/versions",
        files={"file": ("v2.pdf", samples.pdf(2), "application/pdf")},
        data={"class_code": "10", "type_code": "11502-2", "title": "v2"},
        headers=world.me(),
    ).json()
    kept = world.uploaded(world.me(), title="À garder")
    response = world.client.delete(f"{SPACES}/me/documents/{second['id']}", headers=world.me())
    assert response.status_code == 204
    assert world.listing(world.me()) == [kept["id"]]
    for doc_id in (first["id"], second["id"]):
        for suffix in ("", "/content"):
            gone = world.client.get(f"{SPACES}/me/documents/{doc_id}{suffix}", headers=world.me())
            assert gone.status_code == 404
    blobs = sorted(p.name for p in world.blob_dir.rglob("*") if p.is_file())
    assert blobs == [kept["id"]]


def test_another_persons_documents_are_not_found(world: World) -> None:
    paul = world.family.paul
    doc = world.uploaded(world.me(paul))
    # Through Jeanne's own space: it does not exist there.
    for method, suffix in (("GET", ""), ("GET", "/content"), ("DELETE", "")):
        response = world.client.request(
            method, f"{SPACES}/me/documents/{doc['id']}{suffix}", headers=world.me()
        )
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "unknown_document"
    # Through Paul's space: Jeanne may not reach it at all.
    response = world.client.get(f"{SPACES}/{paul.id}/documents", headers=world.me())
    assert response.status_code in (403, 404)
    response = world.client.get(f"{SPACES}/{paul.id}/documents/{doc['id']}", headers=world.me())
    assert response.status_code in (403, 404)


def test_size_limit(world: World, app_client: object) -> None:
    settings = world.client.app.state.settings  # type: ignore[attr-defined]
    limit = settings.document_max_bytes
    big = samples.pdf()
    big = big[:-6] + b" " * (limit + 1 - len(big)) + big[-6:]
    response = world.upload(world.me(), big)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "document_too_large"
    assert str(limit) in response.json()["error"]["message"]


def test_holder_hides_a_document_from_professionals_and_shows_it_again(world: World) -> None:
    doc = world.uploaded(world.me(), hidden_from_professionals=True)
    assert doc["visibility"]["hidden_from_professionals"] is True
    url = f"{SPACES}/me/documents/{doc['id']}/visibility"
    shown = world.client.patch(url, json={"hidden_from_professionals": False}, headers=world.me())
    assert shown.status_code == 200, shown.text
    assert shown.json()["visibility"]["hidden_from_professionals"] is False
    refused = world.client.patch(url, json={"invisible_to_patient": True}, headers=world.me())
    assert refused.status_code == 422
    # Only professionals make a document invisible to the patient.
    response = world.upload(world.me(), invisible_to_patient=True)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "visibility_not_allowed"


def test_every_access_is_audited(world: World, db: Database) -> None:
    doc = world.uploaded(world.me())
    world.client.get(f"{SPACES}/me/documents/{doc['id']}/content", headers=world.me())
    world.listing(world.me())
    with db.engine.connect() as c:
        actions = [
            row.action
            for row in c.execute(
                text(
                    "SELECT action FROM audit_events WHERE person_id = :p "
                    "AND action LIKE 'space.documents%' ORDER BY id"
                ),
                {"p": world.family.jeanne.id},
            )
        ]
    assert actions == [
        "space.documents.create",
        "space.documents.content",
        "space.documents.search",
    ]
