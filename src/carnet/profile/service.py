"""Use cases of the medical profile: FHIR resources of a health space, versioned.

Every use case asks ``access_service.authorize`` (area PROFILE) before touching anything and
records the access with ``access_service.record`` in the same transaction. Writes are for the
person side (the holder, a parent, a relative the holder allowed): a professional, the emergency
regulator or an emergency access read only (``profile_read_only``). Each write adds a version;
nothing is rewritten in place.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from carnet.access.policy import PERSON_ACTORS, Action, Area, SpaceGrant
from carnet.access.service import access_service
from carnet.audit import get_audit_service
from carnet.auth.principal import Principal
from carnet.exceptions import Conflict, Forbidden, NotFound, ValidationFailed
from carnet.profile import codes, demo_data
from carnet.profile.exceptions import Gone, PreconditionRequired
from carnet.profile.models import ProfileResource
from carnet.profile.repository import Filters, ProfileRepository
from carnet.profile.schemas import (
    HistorySection,
    Measurement,
    Page,
    ProfileSummary,
    StoredResource,
    TreatmentsSection,
)
from carnet.profile.validation import CheckedResource, check_resource, invalid

__all__ = ["Filters", "ProfileService", "profile_service"]

CURRENT_TREATMENT = frozenset({"active", "intended", "on-hold"})
SUMMARY_LIMIT = 500  # per type: a profile is a few dozen entries; a bound all the same


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _stored(row: ProfileResource) -> StoredResource:
    return StoredResource(
        person_id=row.person_id,
        resource_type=row.resource_type,
        public_id=row.public_id,
        version=row.version,
        deleted=row.deleted,
        resource=json.loads(row.resource_json) if row.resource_json is not None else None,
        recorded_at=row.recorded_at,
        author=row.author,
    )


def check_type(resource_type: str) -> str:
    if resource_type not in codes.RESOURCE_TYPES:
        raise NotFound(
            f"{resource_type[:40]!r} is not a resource type of the medical profile "
            f"({', '.join(codes.RESOURCE_TYPES)})",
            code="unknown_resource_type",
        )
    return resource_type


class ProfileService:
    # -- authorization ---------------------------------------------------------------------------

    def _grant(
        self,
        session: Session,
        principal: Principal,
        person_ref: str,
        action: Action,
        now: datetime,
        professional_rpps: str | None,
    ) -> SpaceGrant:
        if action is Action.WRITE and principal.person_id is None:
            raise Forbidden(
                "the medical profile is written by the holder (or their representatives): "
                "professional software may read it, not change it",
                code="profile_read_only",
            )
        person_id = access_service.resolve_person(session, principal, person_ref)
        grant = access_service.authorize(
            session,
            principal,
            person_id,
            Area.PROFILE,
            action,
            now=now,
            professional_rpps=professional_rpps,
        )
        if action is Action.WRITE and grant.actor not in PERSON_ACTORS:
            raise Forbidden(
                "the medical profile is written by the holder (or their representatives): "
                f"a {grant.actor.value} access may read it, not change it",
                code="profile_read_only",
            )
        return grant

    # -- reads -----------------------------------------------------------------------------------

    def _owned_current(
        self, session: Session, grant: SpaceGrant, resource_type: str, public_id: str
    ) -> ProfileResource:
        row = ProfileRepository(session).current(public_id)
        if row is None or row.person_id != grant.person_id or row.resource_type != resource_type:
            raise _unknown_resource(resource_type, public_id)
        return row

    def _space_of(self, session: Session, resource_type: str, public_id: str) -> str:
        """The space (person id) of a resource named by its id alone (FHIR reads by id)."""
        row = ProfileRepository(session).current(public_id)
        if row is None or row.resource_type != resource_type:
            raise _unknown_resource(resource_type, public_id)
        return str(row.person_id)

    def read(
        self,
        session: Session,
        principal: Principal,
        person_ref: str | None,
        resource_type: str,
        public_id: str,
        *,
        now: datetime,
        professional_rpps: str | None = None,
    ) -> StoredResource:
        """The current version. ``person_ref`` None: the resource's own space (FHIR
        ``GET /fhir/{type}/{id}``)."""
        check_type(resource_type)
        if person_ref is None:
            person_ref = self._space_of(session, resource_type, public_id)
        grant = self._grant(session, principal, person_ref, Action.READ, now, professional_rpps)
        row = self._owned_current(session, grant, resource_type, public_id)
        reference = f"{resource_type}/{public_id}"
        access_service.record(session, grant, what="profile.read", resource=reference, now=now)
        if row.deleted:
            raise Gone(
                f"{reference} was deleted (its history stays readable: {reference}/_history)"
            )
        return _stored(row)

    def history(
        self,
        session: Session,
        principal: Principal,
        person_ref: str | None,
        resource_type: str,
        public_id: str,
        *,
        now: datetime,
        professional_rpps: str | None = None,
        version: int | None = None,
    ) -> list[StoredResource]:
        """Every version, newest first (or the one ``version``). ``person_ref`` None: the
        resource's own space (FHIR reads by id)."""
        check_type(resource_type)
        if person_ref is None:
            person_ref = self._space_of(session, resource_type, public_id)
        grant = self._grant(session, principal, person_ref, Action.READ, now, professional_rpps)
        self._owned_current(session, grant, resource_type, public_id)
        repo = ProfileRepository(session)
        reference = f"{resource_type}/{public_id}"
        if version is None:
            rows = list(repo.versions(public_id))
            access_service.record(
                session, grant, what="profile.history", resource=reference, now=now
            )
            return [_stored(r) for r in rows]
        found = repo.version(public_id, version)
        if found is None:
            raise NotFound(f"{reference} has no version {version}", code="unknown_version")
        access_service.record(
            session,
            grant,
            what="profile.read",
            resource=f"{reference}/_history/{version}",
            now=now,
        )
        if found.deleted:
            raise Gone(f"version {version} of {reference} is its deletion")
        return [_stored(found)]

    def search(
        self,
        session: Session,
        principal: Principal,
        person_ref: str,
        resource_type: str,
        filters: Filters,
        *,
        now: datetime,
        professional_rpps: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page:
        check_type(resource_type)
        grant = self._grant(session, principal, person_ref, Action.READ, now, professional_rpps)
        repo = ProfileRepository(session)
        rows = repo.search(grant.person_id, resource_type, filters, limit=limit, offset=offset)
        total = (
            len(rows)
            if offset == 0 and len(rows) < limit
            else repo.count(grant.person_id, resource_type, filters)
        )
        access_service.record(
            session,
            grant,
            what="profile.search",
            resource=resource_type,
            detail=f"{len(rows)} of {total}",
            now=now,
        )
        return Page([_stored(r) for r in rows], total)

    def summary(
        self,
        session: Session,
        principal: Principal,
        person_ref: str,
        *,
        now: datetime,
        professional_rpps: str | None = None,
    ) -> ProfileSummary:
        grant = self._grant(session, principal, person_ref, Action.READ, now, professional_rpps)
        rows = ProfileRepository(session).search(
            grant.person_id, None, Filters(), limit=SUMMARY_LIMIT * len(codes.RESOURCE_TYPES)
        )
        by_type: dict[str, list[StoredResource]] = {t: [] for t in codes.RESOURCE_TYPES}
        for row in rows:
            if row.status != "entered-in-error":
                by_type[row.resource_type].append(_stored(row))

        def resources(
            resource_type: str, keep: Callable[[StoredResource], bool] | None = None
        ) -> list[dict[str, Any]]:
            return [
                s.resource
                for s in by_type[resource_type]
                if s.resource is not None and (keep is None or keep(s))
            ]

        def current(s: StoredResource) -> bool:
            return (s.resource or {}).get("status") in CURRENT_TREATMENT

        access_service.record(session, grant, what="profile.summary", now=now)
        return ProfileSummary(
            patient=f"Patient/{grant.person_id}",
            history=HistorySection(
                illnesses=resources("Condition"),
                hospitalisations=resources("Encounter"),
                operations=resources("Procedure"),
            ),
            treatments=TreatmentsSection(
                current=resources("MedicationStatement", current),
                past=resources("MedicationStatement", lambda s: not current(s)),
            ),
            allergies=resources("AllergyIntolerance"),
            vaccinations=resources("Immunization"),
            measurements=_latest_measurements(by_type["Observation"]),
            directives=resources("Consent"),
            contacts=resources("RelatedPerson"),
        )

    # -- writes ----------------------------------------------------------------------------------

    def _check(
        self, session: Session, grant: SpaceGrant, resource_type: str, body: Any, now: datetime
    ) -> CheckedResource:
        checked = check_resource(resource_type, body, person_id=grant.person_id, now=now)
        repo = ProfileRepository(session)
        missing: list[tuple[str, str]] = []
        by_type: dict[str, list[str]] = {}
        for ref in checked.references:
            by_type.setdefault(ref.resource_type, []).append(ref.public_id)
        live = {t: repo.live_ids(grant.person_id, t, ids) for t, ids in by_type.items()}
        for ref in checked.references:
            if ref.public_id not in live[ref.resource_type]:
                missing.append(
                    (ref.path, f"{ref.resource_type}/{ref.public_id} is not in this health space")
                )
        if missing:
            raise invalid(resource_type, missing)
        return checked

    def _write(
        self,
        session: Session,
        *,
        person_id: int,
        resource_type: str,
        public_id: str,
        version: int,
        checked: CheckedResource | None,
        author: str,
        now: datetime,
    ) -> StoredResource:
        resource: dict[str, Any] | None = None
        if checked is not None:
            resource = {
                "resourceType": resource_type,
                "id": public_id,
                "meta": {"versionId": str(version), "lastUpdated": _iso(now)},
                **{k: v for k, v in checked.resource.items() if k != "resourceType"},
            }
        index = checked.index if checked is not None else None
        row = ProfileRepository(session).add(
            ProfileResource(
                person_id=person_id,
                resource_type=resource_type,
                public_id=public_id,
                version=version,
                is_current=True,
                deleted=checked is None,
                resource_json=json.dumps(resource, ensure_ascii=False, separators=(",", ":"))
                if resource is not None
                else None,
                category=index.category if index else None,
                code_system=index.code_system if index else None,
                code=index.code if index else None,
                status=index.status if index else None,
                effective_at=index.effective_at if index else None,
                recorded_at=now,
                author=author[:100],
            )
        )
        return _stored(row)

    def _next_version(
        self,
        session: Session,
        grant: SpaceGrant,
        resource_type: str,
        public_id: str,
        *,
        replaces: int,
        checked: CheckedResource | None,
        now: datetime,
    ) -> StoredResource:
        """Retire version ``replaces`` and write version ``replaces + 1`` (``checked`` None: the
        deletion); a concurrent change of the same version is a conflict."""
        if not ProfileRepository(session).retire(public_id, replaces):
            raise _stale(f"{resource_type}/{public_id}", replaces, None)
        return self._write(
            session,
            person_id=grant.person_id,
            resource_type=resource_type,
            public_id=public_id,
            version=replaces + 1,
            checked=checked,
            author=grant.audit_actor,
            now=now,
        )

    def create(
        self,
        session: Session,
        principal: Principal,
        person_ref: str,
        resource_type: str,
        body: Any,
        *,
        now: datetime,
        professional_rpps: str | None = None,
    ) -> StoredResource:
        check_type(resource_type)
        grant = self._grant(session, principal, person_ref, Action.WRITE, now, professional_rpps)
        checked = self._check(session, grant, resource_type, body, now)
        stored = self._write(
            session,
            person_id=grant.person_id,
            resource_type=resource_type,
            public_id=str(uuid.uuid4()),
            version=1,
            checked=checked,
            author=grant.audit_actor,
            now=now,
        )
        access_service.record(
            session, grant, what="profile.create", resource=stored.reference, now=now
        )
        return stored

    def update(
        self,
        session: Session,
        principal: Principal,
        person_ref: str,
        resource_type: str,
        public_id: str,
        body: Any,
        *,
        if_match: int | None,
        now: datetime,
        professional_rpps: str | None = None,
    ) -> StoredResource:
        check_type(resource_type)
        grant = self._grant(session, principal, person_ref, Action.WRITE, now, professional_rpps)
        row = self._owned_current(session, grant, resource_type, public_id)
        reference = f"{resource_type}/{public_id}"
        if row.deleted:
            raise Gone(f"{reference} was deleted: create a new resource instead")
        if isinstance(body, dict) and body.get("id") not in (None, public_id):
            raise ValidationFailed(
                f"{resource_type}.id: {body.get('id')!r} is not the id of {reference}",
                code="id_mismatch",
                details=[{"field": f"{resource_type}.id", "message": "must be the id in the URL"}],
            )
        expected = if_match if if_match is not None else _body_version(body, resource_type)
        if expected is None:
            raise PreconditionRequired(
                f"say which version of {reference} this update replaces: header If-Match: "
                f'W/"{row.version}" (or meta.versionId)'
            )
        if expected != row.version:
            raise _stale(reference, expected, row.version)
        checked = self._check(session, grant, resource_type, body, now)
        stored = self._next_version(
            session, grant, resource_type, public_id, replaces=expected, checked=checked, now=now
        )
        access_service.record(
            session, grant, what="profile.update", resource=stored.reference, now=now,
            detail=f"version {stored.version}",
        )  # fmt: skip
        return stored

    def delete(
        self,
        session: Session,
        principal: Principal,
        person_ref: str,
        resource_type: str,
        public_id: str,
        *,
        if_match: int | None,
        now: datetime,
        professional_rpps: str | None = None,
    ) -> StoredResource | None:
        """Delete (a new version marking the deletion). Deleting a deleted resource changes
        nothing and answers None."""
        check_type(resource_type)
        grant = self._grant(session, principal, person_ref, Action.WRITE, now, professional_rpps)
        row = self._owned_current(session, grant, resource_type, public_id)
        reference = f"{resource_type}/{public_id}"
        if row.deleted:
            access_service.record(
                session, grant, what="profile.delete", resource=reference, now=now,
                detail="already deleted",
            )  # fmt: skip
            return None
        if if_match is not None and if_match != row.version:
            raise _stale(reference, if_match, row.version)
        stored = self._next_version(
            session, grant, resource_type, public_id, replaces=row.version, checked=None, now=now
        )
        access_service.record(session, grant, what="profile.delete", resource=reference, now=now)
        return stored

    # -- platform --------------------------------------------------------------------------------

    def purge_person(self, session: Session, person_id: int) -> int:
        """Erase a person's whole profile, history included (the space purge job). Returns the
        number of versions removed; audited."""
        removed = ProfileRepository(session).purge_person(person_id)
        get_audit_service().record(
            session,
            actor="system",
            action="space.profile.purge",
            person_id=person_id,
            detail=f"{removed} versions",
        )
        return removed

    def write_demo_profile(
        self, session: Session, person_id: int, *, now: datetime, seed: int | None = None
    ) -> list[StoredResource]:
        """A plausible synthetic profile for a (synthetic) person: demo data, validated like any
        write, authored and audited as ``system:demo``."""
        rng = random.Random(seed if seed is not None else person_id)  # noqa: S311 (demo data)
        written: list[StoredResource] = []
        for resource_type, body in demo_data.demo_resources(person_id, now=now, rng=rng):
            checked = check_resource(resource_type, body, person_id=person_id, now=now)
            written.append(
                self._write(
                    session,
                    person_id=person_id,
                    resource_type=resource_type,
                    public_id=str(uuid.uuid4()),
                    version=1,
                    checked=checked,
                    author="system:demo",
                    now=now,
                )
            )
        get_audit_service().record(
            session,
            actor="system:demo",
            action="space.profile.demo",
            person_id=person_id,
            detail=f"{len(written)} resources",
            recorded_at=now,
        )
        return written


def _body_version(body: Any, resource_type: str) -> int | None:
    if not isinstance(body, dict):
        return None
    meta = body.get("meta")
    value = meta.get("versionId") if isinstance(meta, dict) else None
    if value is None:
        return None
    if not isinstance(value, str) or not value.isdigit() or len(value) > 9:
        raise ValidationFailed(
            f"{resource_type}.meta.versionId: {value!r} is not a version of this server",
            code="invalid_version",
            details=[{"field": f"{resource_type}.meta.versionId", "message": "not a version"}],
        )
    return int(value)


def _unknown_resource(resource_type: str, public_id: str) -> NotFound:
    return NotFound(f"{resource_type}/{public_id[:64]} is not known", code="unknown_resource")


def parse_version_id(version: str, resource_type: str, resource_id: str) -> int:
    """A version named in a URL (``…/_history/3``) → 3; anything else is an unknown version."""
    if not version.isascii() or not version.isdigit() or len(version) > 9:
        raise NotFound(
            f"{resource_type}/{resource_id[:64]} has no version {version[:20]!r}",
            code="unknown_version",
        )
    return int(version)


def _stale(reference: str, expected: int, current: int | None) -> Conflict:
    now_at = f" (it is at version {current})" if current is not None else ""
    return Conflict(
        f"{reference} changed since version {expected}{now_at}: read it again and redo the change",
        code="version_conflict",
    )


def _latest_measurements(observations: list[StoredResource]) -> list[Measurement]:
    """Observations come most recent first: the first of each code is the latest."""
    latest: dict[str, Measurement] = {}
    counts: dict[str, int] = {}
    for stored in observations:
        resource = stored.resource or {}
        codings = (resource.get("code") or {}).get("coding") or []
        loinc = next((c["code"] for c in codings if c.get("system") == codes.LOINC), None)
        vital = codes.VITAL_SIGNS.get(str(loinc))
        if vital is None:
            continue
        counts[vital.code] = counts.get(vital.code, 0) + 1
        if vital.code in latest:
            continue
        measurement = Measurement(
            code=vital.code,
            label=vital.label,
            effective=resource.get("effectiveDateTime"),
            id=stored.public_id,
            count=0,
        )
        if vital.code == codes.BLOOD_PRESSURE:
            for component in resource.get("component") or []:
                code = next(
                    (c["code"] for c in component["code"].get("coding", [])
                     if c.get("system") == codes.LOINC),
                    None,
                )  # fmt: skip
                value = (component.get("valueQuantity") or {}).get("value")
                if code == codes.SYSTOLIC:
                    measurement.systolic = value
                elif code == codes.DIASTOLIC:
                    measurement.diastolic = value
            measurement.unit = "mm[Hg]"
        else:
            quantity = resource.get("valueQuantity") or {}
            measurement.value = quantity.get("value")
            measurement.unit = quantity.get("code")
        latest[vital.code] = measurement
    for code, measurement in latest.items():
        measurement.count = counts[code]
    return list(latest.values())


profile_service = ProfileService()
