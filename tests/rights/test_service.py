"""The reads other domains build on: ``rights_at``, ``dependants_of``, ``is_attached``."""

from __future__ import annotations

from datetime import date

from carnet.db import Database
from carnet.rights.service import ActiveSituation, Dependant, rights_service

from .conftest import Family, family_rights, line, load


def test_rights_at(db: Database, family: Family) -> None:
    assert load(db, *family_rights(family)).committed
    with db.session() as s:
        zoe = rights_service.rights_at(s, family.zoe.person_id, date(2026, 8, 15))
        paul = rights_service.rights_at(s, family.paul.person_id, date(2026, 7, 1))
        nothing = rights_service.rights_at(s, family.zoe.person_id, date(2025, 12, 31))
        nina = rights_service.rights_at(s, family.nina.person_id, date(2026, 8, 15))
    assert zoe is not None
    assert (zoe.person_id, zoe.matricule, zoe.first_names, zoe.birth_date) == (
        family.zoe.person_id,
        family.zoe.nir,
        ("ZOE",),
        "2015-06-01",
    )
    assert (zoe.insured_person_id, zoe.insured_matricule) == (
        family.paul.person_id,
        family.paul.nir,
    )
    assert (zoe.quality, zoe.quality_label, zoe.rank) == ("06", "Enfant", 2)
    assert (zoe.regime, zoe.fund, zoe.centre) == ("01", "691", "0040")
    assert (zoe.start, zoe.end) == (date(2026, 7, 1), None)
    assert (zoe.validity_start, zoe.validity_end) == (date(2026, 8, 15), date(2027, 8, 14))
    assert not zoe.is_insured
    assert paul is not None
    assert paul.is_insured
    assert paul.situations == (
        ActiveSituation(
            code="C2S",
            label="Complémentaire santé solidaire",
            start=date(2026, 7, 1),
            end=None,
            participation=True,
        ),
    )
    assert nothing is None
    assert nina is None


def test_dependants_of(db: Database, family: Family) -> None:
    rows = family_rights(family)
    # Hugo leaves Paul at the end of June: attached to Marie, insured herself, from July.
    rows = [r for r in rows if not (r[0] == family.hugo.nir and r[8] == "2026-07-01")]
    rows = [r for r in rows if not (r[0] == family.marie.nir and r[8] == "2026-07-01")]
    rows.append(line(family.marie, start="2026-07-01", fund="691", centre="0040"))
    rows.append(
        line(family.hugo, insured=family.marie, quality="06", start="2026-07-01", fund="691")
    )
    report = load(db, *rows)
    assert report.committed, report.errors
    with db.session() as s:
        june = rights_service.dependants_of(s, family.paul.person_id, date(2026, 6, 30))
        july = rights_service.dependants_of(s, family.paul.person_id, date(2026, 7, 1))
        marie = rights_service.dependants_of(s, family.marie.person_id, date(2026, 7, 1))
        before = rights_service.dependants_of(s, family.paul.person_id, date(2025, 12, 31))
        alone = rights_service.dependants_of(s, family.awa.person_id, date(2026, 7, 1))
    # Ordered by birth date then rank; the insured person is not their own dependant.
    assert [(d.first_names, d.quality, d.rank) for d in june] == [
        (("MARIE", "ANNE"), "02", 1),
        (("LEA",), "06", 1),
        (("ZOE",), "06", 2),
        (("HUGO",), "06", 1),
    ]
    assert june[1] == Dependant(
        person_id=family.lea.person_id,
        matricule=family.lea.nir,
        quality="06",
        quality_label="Enfant",
        rank=1,
        birth_name="MOREAU",
        first_names=("LEA",),
        used_name=None,
        sex="F",
        birth_date="2015-06-01",
    )
    assert [d.first_names for d in july] == [("LEA",), ("ZOE",)]
    assert [d.person_id for d in marie] == [family.hugo.person_id]
    assert before == []
    assert alone == []


def test_is_attached(db: Database, family: Family) -> None:
    assert load(db, *family_rights(family)).committed
    on, before = date(2026, 3, 1), date(2025, 1, 1)
    paul, hugo, marie = family.paul.person_id, family.hugo.person_id, family.marie.person_id
    with db.session() as s:
        assert rights_service.is_attached(s, hugo, paul, on)
        assert rights_service.is_attached(s, paul, paul, on)  # the insured person themselves
        assert not rights_service.is_attached(s, hugo, marie, on)
        assert not rights_service.is_attached(s, paul, hugo, on)
        assert not rights_service.is_attached(s, hugo, paul, before)
        assert not rights_service.is_attached(s, family.nina.person_id, paul, on)
