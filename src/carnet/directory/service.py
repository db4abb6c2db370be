"""Directory use cases: reading professionals, and who may act for whom.

``acting_professional`` is the interface the apCV domain builds on (docs/card.md): given the
calling client and a reference to a professional (RPPS or idNat_PS, optionally the place of the
act), it answers the professional as the act records them, or refuses with a 403:

* ``client_not_bound``: the client is bound to neither a professional nor a structure (an
  operator or national service does not act for a professional);
* ``professional_not_in_directory``: no such professional, or no longer active;
* ``professional_not_bound_to_client``: the client is neither bound to that professional
  (``principal.professional_id``) nor to a structure where they practise
  (``principal.structure_id``); also a structure's client naming another structure as the place;
* ``not_a_place_of_practice``: the ``structure_identifier`` given is not one of the
  professional's places.

With ``cached=True`` (the apCV hot path) a successful answer is kept for
``ACTING_CACHE_SECONDS`` per process, keyed by the database, the client and the binding its
token carries (client id, professional id, structure id) and the exact reference. Invalidation:
refusals are never kept (a professional newly in the directory, or a newly bound client, acts at
once); a kept answer expires after ``ACTING_CACHE_SECONDS`` (30 s), which bounds how long a
professional deactivated or a place removed by a directory import (another process) can still be
accepted; ``forget_acting()`` drops every kept answer at once (an in-process directory change).
The binding itself lives in the client's 5-minute access token, so a new binding means a new
token, hence a new key.

It does not audit: it answers a question inside the caller's use case, which records the act
(naming the professional) in the same transaction. Reads through the directory API are audited
(``directory.read``, ``directory.search``); the directory is public reference data, so the events
name the professional (``Professional/{id}``), not a person of the register.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row
from sqlalchemy.orm import Session

from carnet.audit import get_audit_service
from carnet.auth.principal import Principal
from carnet.directory import codes, schemas
from carnet.directory.identifiers import normalise_rpps
from carnet.directory.names import name_key
from carnet.directory.repository import ProfessionalRepository
from carnet.directory.schemas import ActingProfessional, ProfessionalRef
from carnet.exceptions import AppError, Forbidden, NotFound, ValidationFailed

MIN_SEARCH_KEY = 2
# How long ``acting_professional(..., cached=True)`` keeps a successful answer (see above).
ACTING_CACHE_SECONDS = 30.0
ACTING_CACHE_SIZE = 10_000

_ActingKey = tuple[Any, str, int | None, int | None, str | None, str | None, str | None]


class _ActingCache:
    """Successful ``acting_professional`` answers for a short time (per process)."""

    def __init__(self, ttl: float, size: int) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: dict[_ActingKey, tuple[float, ActingProfessional]] = {}

    @staticmethod
    def key(session: Session, principal: Principal, ref: ProfessionalRef) -> _ActingKey:
        bind = session.get_bind()
        url = getattr(bind, "url", None) or bind.engine.url
        return (
            url,
            principal.client_id,
            principal.professional_id,
            principal.structure_id,
            ref.rpps,
            ref.idnat_ps,
            ref.structure_identifier,
        )

    def get(self, key: _ActingKey) -> ActingProfessional | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            self._entries.pop(key, None)
            return None
        return entry[1]

    def put(self, key: _ActingKey, value: ActingProfessional) -> None:
        if len(self._entries) >= self.size:
            self._entries.clear()  # rare: a burst of distinct clients; simpler than LRU
        self._entries[key] = (time.monotonic() + self.ttl, value)

    def clear(self) -> None:
        self._entries.clear()


def _label(ref: ProfessionalRef) -> str:
    return f"RPPS {ref.rpps}" if ref.rpps is not None else f"idNat_PS {ref.idnat_ps}"


def _acting(row: Row[Any], place: Row[Any] | None) -> ActingProfessional:
    return ActingProfessional(
        professional_id=int(row.id),
        rpps=row.rpps,
        idnat_ps=row.idnat_ps,
        family_name=row.family_name,
        given_name=row.given_name,
        profession_code=row.profession_code,
        # Every stored code was checked against the table on import.
        profession_label=codes.profession_label(row.profession_code) or row.profession_code,
        specialty_code=row.specialty_code,
        specialty_label=codes.specialty_label(row.specialty_code),
        structure_id=int(place.structure_id) if place is not None else None,
        structure_identifier=place.structure_identifier if place is not None else None,
        structure_name=place.structure_name if place is not None else None,
    )


def _professional_out(row: Row[Any], places: Sequence[Row[Any]]) -> schemas.ProfessionalOut:
    specialty = None
    if row.specialty_code is not None:
        specialty = schemas.Coded(
            system=codes.SPECIALTY_SYSTEM,
            code=row.specialty_code,
            label=codes.specialty_label(row.specialty_code),
        )
    return schemas.ProfessionalOut(
        rpps=row.rpps,
        idnat_ps=row.idnat_ps,
        family_name=row.family_name,
        given_name=row.given_name,
        profession=schemas.Coded(
            system=codes.PROFESSION_SYSTEM,
            code=row.profession_code,
            label=codes.profession_label(row.profession_code),
        ),
        specialty=specialty,
        active=bool(row.active),
        practices=[
            schemas.PracticeOut(
                structure_id=int(p.structure_id),
                structure_identifier=p.structure_identifier,
                structure_name=p.structure_name,
                commune=p.commune,
            )
            for p in places
        ],
        updated_at=row.updated_at,
    )


def _rpps_or_422(raw: str) -> str:
    try:
        rpps = normalise_rpps(raw)
    except ValueError as exc:
        raise ValidationFailed(str(exc), code="invalid_rpps") from None
    if rpps is None:
        raise ValidationFailed("rpps: expected 11 digits", code="invalid_rpps")
    return rpps


class DirectoryService:
    # -- reads (API) -----------------------------------------------------------------------------

    def get_professional(
        self, session: Session, principal: Principal, rpps: str
    ) -> schemas.ProfessionalOut:
        number = _rpps_or_422(rpps)
        repo = ProfessionalRepository(session)
        row = repo.get_by_rpps(number)
        if row is None:
            raise NotFound(
                f"no professional with RPPS {number} in the directory",
                code="professional_not_found",
            )
        get_audit_service().record(
            session,
            actor=principal.actor,
            action="directory.read",
            resource=f"Professional/{row.id}",
        )
        return _professional_out(row, repo.practices_of([int(row.id)]))

    def search(
        self,
        session: Session,
        principal: Principal,
        *,
        name: str,
        profession: str | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> schemas.ProfessionalPage:
        """Professionals whose family name starts with ``name`` (accents and case ignored)."""
        key = name_key(name)
        if len(key) < MIN_SEARCH_KEY:
            raise ValidationFailed(
                f"name: at least {MIN_SEARCH_KEY} letters or digits", code="invalid_search"
            )
        if profession is not None and profession not in codes.PROFESSIONS:
            raise ValidationFailed(
                f"profession: unknown TRE_G15 code {profession!r}", code="unknown_profession"
            )
        repo = ProfessionalRepository(session)
        total, rows = repo.search(key, profession, limit, offset)
        places: dict[int, list[Row[Any]]] = {}
        for place in repo.practices_of([int(r.id) for r in rows]):
            places.setdefault(int(place.professional_id), []).append(place)
        get_audit_service().record(
            session,
            actor=principal.actor,
            action="directory.search",
            outcome="success" if rows else "none",
            detail=f"{total} found",
        )
        return schemas.ProfessionalPage(
            total=total,
            limit=limit,
            offset=offset,
            items=[_professional_out(r, places.get(int(r.id), [])) for r in rows],
        )

    # -- the interface of the apCV domain -----------------------------------------------------

    def __init__(self) -> None:
        self._acting_cache = _ActingCache(ACTING_CACHE_SECONDS, ACTING_CACHE_SIZE)

    def forget_acting(self) -> None:
        """Drop every kept ``acting_professional`` answer (after a directory change)."""
        self._acting_cache.clear()

    def acting_professional(
        self,
        session: Session,
        principal: Principal,
        ref: ProfessionalRef,
        *,
        cached: bool = False,
    ) -> ActingProfessional:
        """The professional ``ref`` names, if the calling client may act for them (see above).

        The place (``structure_*``): the ``structure_identifier`` given; else the client's
        structure when the professional practises there; else the professional's only place;
        else None (several places, none named). ``cached``: see the module docstring.
        """
        if not cached:
            return self._acting_professional(session, principal, ref)
        key = self._acting_cache.key(session, principal, ref)
        acting = self._acting_cache.get(key)
        if acting is None:
            acting = self._acting_professional(session, principal, ref)
            self._acting_cache.put(key, acting)
        return acting

    def _acting_professional(
        self, session: Session, principal: Principal, ref: ProfessionalRef
    ) -> ActingProfessional:
        if principal.professional_id is None and principal.structure_id is None:
            raise Forbidden(
                "this client is bound to no professional and no structure: it cannot act for a "
                "professional (register it with --professional RPPS or --structure ID)",
                code="client_not_bound",
            )
        repo = ProfessionalRepository(session)
        if ref.rpps is not None:
            row = repo.get_by_rpps(ref.rpps)
        else:
            assert ref.idnat_ps is not None  # ProfessionalRef demands exactly one
            row = repo.get_by_idnat(ref.idnat_ps)
        label = _label(ref)
        if row is None:
            raise Forbidden(
                f"the professional {label} is not in the directory",
                code="professional_not_in_directory",
            )
        if not row.active:
            raise Forbidden(
                f"the professional {label} is no longer active in the directory",
                code="professional_not_in_directory",
            )
        places = repo.practices_of([int(row.id)])
        bound_to_professional = principal.professional_id == row.id
        at_client_structure = next(
            (p for p in places if p.structure_id == principal.structure_id), None
        )
        if not bound_to_professional and at_client_structure is None:
            raise Forbidden(
                f"this client is bound neither to the professional {label} nor to a structure "
                "where they practise",
                code="professional_not_bound_to_client",
            )
        place: Row[Any] | None
        if ref.structure_identifier is not None:
            place = next(
                (p for p in places if p.structure_identifier == ref.structure_identifier), None
            )
            if place is None:
                raise Forbidden(
                    f"{ref.structure_identifier} is not a place of practice of the professional "
                    f"{label}",
                    code="not_a_place_of_practice",
                )
            if not bound_to_professional and place.structure_id != principal.structure_id:
                raise Forbidden(
                    f"this client acts for its own structure, not for {ref.structure_identifier}",
                    code="professional_not_bound_to_client",
                )
        elif at_client_structure is not None:
            place = at_client_structure
        else:
            place = places[0] if len(places) == 1 else None
        return _acting(row, place)

    def professional_summary(
        self, session: Session, professional_id: int, *, structure_id: int | None = None
    ) -> ActingProfessional | None:
        """The professional as history shows them (active or not); None when unknown.

        The place: the practice at ``structure_id`` when given (None if the professional no
        longer practises there); without ``structure_id``, the only place, else None.
        """
        repo = ProfessionalRepository(session)
        row = repo.get_by_id(professional_id)
        if row is None:
            return None
        places = repo.practices_of([professional_id])
        place = next((p for p in places if p.structure_id == structure_id), None)
        if place is None and structure_id is None and len(places) == 1:
            place = places[0]
        return _acting(row, place)

    # -- the professionals' web sign-in (``carnet.proauth``) -----------------------------------

    def professional_for_sign_in(
        self, session: Session, ref: ProfessionalRef
    ) -> ActingProfessional:
        """The active professional ``ref`` names (RPPS or idNat_PS, as an identity provider
        gives it), for a sign-in; 403 ``professional_not_in_directory`` when unknown or inactive.
        The place: the only one, else None (the portal asks)."""
        repo = ProfessionalRepository(session)
        row = repo.get_by_rpps(ref.rpps) if ref.rpps is not None else None
        if ref.rpps is None and ref.idnat_ps is not None:
            row = repo.get_by_idnat(ref.idnat_ps)
        if row is None or not row.active:
            raise Forbidden(
                f"the professional {_label(ref)} is not an active professional of the directory",
                code="professional_not_in_directory",
            )
        places = repo.practices_of([int(row.id)])
        return _acting(row, places[0] if len(places) == 1 else None)

    # -- client binding (``carnet clients create --professional``) ----------------------------

    def professional_id_for_binding(self, session: Session, rpps: str) -> int:
        """The id of the active professional with this RPPS, to bind a software client to."""
        number = _rpps_or_422(rpps)
        row = ProfessionalRepository(session).get_by_rpps(number)
        if row is None:
            raise NotFound(
                f"no professional with RPPS {number} in the directory (import it first: "
                "carnet directory import)",
                code="professional_not_found",
            )
        if not row.active:
            raise AppError(
                f"the professional with RPPS {number} is not active in the directory",
                code="professional_inactive",
                status_code=409,
            )
        return int(row.id)


directory_service = DirectoryService()
