"""Documents follow their space's lifecycle: a closed space is archived (nobody reads it, the
data stays), re-opening restores it, and the purge job erases it (rows, key and contents)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from carnet.config import Settings
from carnet.db import Database
from carnet.jobs.service import jobs_service

from . import samples
from .conftest import SPACES, World


def test_closure_archives_reopening_restores_and_purge_erases(
    world: World, db: Database, settings: Settings
) -> None:
    jeanne = world.family.jeanne
    world.consent(jeanne, "author")
    report = samples.pdf()
    mine = world.uploaded(world.me(), report)
    by_doctor = world.uploaded(world.pro("author"), space=str(jeanne.id), title="Compte rendu")

    closed = world.client.post(f"{SPACES}/me/closure", headers=world.me())
    assert closed.status_code == 200, closed.text

    # Archived: the holder is told why, the professional learns nothing.
    listing = world.client.get(f"{SPACES}/me/documents", headers=world.me())
    assert (listing.status_code, listing.json()["error"]["code"]) == (403, "space_not_open")
    doctor = world.client.get(f"{SPACES}/{jeanne.id}/documents", headers=world.pro("author"))
    assert doctor.status_code == 404
    assert by_doctor["id"] not in doctor.text

    reopened = world.client.post(f"{SPACES}/me/reopening", headers=world.me())
    assert reopened.status_code == 200, reopened.text
    assert set(world.listing(world.me())) == {mine["id"], by_doctor["id"]}
    content = world.client.get(f"{SPACES}/me/documents/{mine['id']}/content", headers=world.me())
    assert (content.status_code, content.content) == (200, report)

    # A deletion request: the purge job erases everything within 3 months.
    deleting = world.client.post(f"{SPACES}/me/deletion-request", headers=world.me())
    assert deleting.status_code == 200, deleting.text
    later = datetime.now(UTC) + timedelta(days=91)
    outcomes = jobs_service.run(db, settings, only=["space.purge_due"], now=later)
    assert [(o.status, o.detail["purged"]) for o in outcomes] == [("success", 1)]
    assert not (world.blob_dir / str(jeanne.id)).exists()
    state = world.client.get(f"{SPACES}/me", headers=world.me()).json()
    assert state["state"] == "purged"

    # Opening again starts an empty space: nothing of the old one comes back.
    world.open_space(jeanne)
    assert world.listing(world.me()) == []
