"""All SQL on the register. The lookup path uses Core statements: rows, not ORM objects."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from carnet.identity.models import InsHistory, Person

persons = Person.__table__
ins_history = InsHistory.__table__


class PersonRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def find_by_traits(self, birth_name: str, birth_date: str, sex: str) -> Sequence[Row[Any]]:
        return self.session.execute(
            select(persons).where(
                persons.c.birth_name == birth_name,
                persons.c.birth_date == birth_date,
                persons.c.sex == sex,
            )
        ).all()

    def get_by_matricule(self, matricule: str) -> Row[Any] | None:
        return self.session.execute(select(persons).where(persons.c.matricule == matricule)).first()

    def get_by_id(self, person_id: int) -> Row[Any] | None:
        return self.session.execute(select(persons).where(persons.c.id == person_id)).first()

    def find_by_previous_matricule(self, matricule: str) -> Row[Any] | None:
        """The current identity of someone whose old matricule (NIA, merged NIR) is given."""
        return self.session.execute(
            select(persons)
            .join(ins_history, ins_history.c.person_id == persons.c.id)
            .where(ins_history.c.matricule == matricule)
        ).first()

    def history(self, person_id: int) -> Sequence[Row[Any]]:
        return self.session.execute(
            select(ins_history)
            .where(ins_history.c.person_id == person_id)
            .order_by(ins_history.c.id)
        ).all()
