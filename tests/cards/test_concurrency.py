"""Two activations of one person completing at the same moment: the second waits for the first
and reuses its account instead of failing on the person's unique account."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from carnet.cards.models import CardAccount
from carnet.cards.repository import CardRepository
from carnet.db import Database

from ..factories import add_person


def test_a_concurrent_first_account_is_reused(db: Database) -> None:
    with db.session() as s:
        person_id = add_person(
            s, birth_name="PETIT", first_names="ANNE", sex="F", birth_date="1990-03-04"
        ).id
    now = datetime.now(UTC)
    first_inserted = threading.Event()
    release_first = threading.Event()
    outcome: dict[str, object] = {}

    def first() -> None:
        with db.session() as s:
            CardRepository(s).add_account(
                CardAccount(person_id=person_id, email="premier@exemple.fr", created_at=now)
            )
            first_inserted.set()
            release_first.wait(10)  # commit only once the second one is waiting

    def second() -> None:
        first_inserted.wait(10)
        with db.session() as s:
            account = CardRepository(s).add_account(
                CardAccount(person_id=person_id, email="second@exemple.fr", created_at=now)
            )
            outcome["email"] = account.email

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    first_inserted.wait(10)
    # Give the second a moment to block on the first's uncommitted row (or database lock).
    threads[1].join(0.5)
    release_first.set()
    for thread in threads:
        thread.join(20)
    assert outcome == {"email": "premier@exemple.fr"}
    with db.session() as s:
        assert s.query(CardAccount).filter_by(person_id=person_id).count() == 1
