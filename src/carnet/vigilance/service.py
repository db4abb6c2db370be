"""Identity-vigilance use cases: structures, local identities and their RNIV status machine.

Access. A client bound to a structure (``Principal.structure_id``) only ever sees that structure:
any other structure, and any identity of another structure, is a 404 identical to "does not exist"
(``get_structure_or_404``, the one place of that check). A client with no binding is an operator
and may act on every structure.

Statuses (domain.md §2.1), from two independent criteria, INSi retrieval and document check::

    PROV --document check--> VALI --INSi 00 + coherent traits--> QUAL
    PROV --INSi 00 + coherent traits--> RECUP --document check--> QUAL

* An INSi retrieval queries the register (``register_service.search``, audited there) with the
  identity's strict traits: first each birth first name alone, then the whole list, adding the
  birth place after a 02 (domain.md §3.1-3.2). On 00 the returned traits must be coherent with the
  local ones (same birth name, sex, birth date and birth place when known locally; the local first
  first name among the returned first names). Coherent: the INSi traits replace the local ones
  (full first-name list included), the INS (matricule + OID) and the register person are stored,
  the method becomes INSI, and the status becomes RECUP (QUAL if it was VALI). Incoherent: nothing
  changes and the answer names the differing traits. 01/02: nothing changes.
* A document check (a high-trust document, ``validation_mode``) gives VALI, or QUAL from RECUP.
* Changing a strict trait (birth name, first names, sex, birth date, birth place) loses the
  INSi-derived part of the status: the stored traits are no longer those of the INS, so the INS is
  removed and RECUP/QUAL are lost. The document-check part survives only if the change comes with
  the document it was checked against (``validation_mode`` in the same request): the identity is
  then VALI (renewed validation date), otherwise PROV. So RECUP → PROV, QUAL/VALI → VALI with a
  document or PROV without. Used names, used first name and IPP are not strict traits.
* Attributes (domain.md §2.3): DOUT or FICT force PROV (the INS and the document check are
  removed) and forbid INSi retrieval and any document check (409). FICT is incompatible with DOUT
  and HOMA (only DOUT and HOMA may be combined). A confirmed code replaces its potential one
  (HOMA replaces HOMD, DOUA DPOT, COLV COLP), and a potential code is not added next to its
  confirmed one (a no-op). DESA is set and removed only by merge/unmerge.
* The INS (matricule + OID) is exposed only for a QUAL identity; it is stored from RECUP on.
* Merge: the losing identity is deactivated (active false, DESA, ``merged_into_id``); it keeps its
  traits, IPP, INS and history. Refused between two different INS, into an inactive identity, and
  from an identity holding an INS into one that has none (keep the more reliable one). The kept
  identity's version moves on too, so that concurrent merges touching the same identities fail
  (409) rather than cross. Unmerge restores the loser exactly as it was before the merge, from the
  history; both identities' histories record the merge and the unmerge.

Every change bumps ``version`` (optimistic concurrency: a stale version is a 409) and writes a
``local_identity_events`` row holding the state before the change. Every read or change is audited
(``identity.*``, resource ``LocalIdentity/{id}``, the register person when linked).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session
from stdnum.fr import siret

from carnet.audit import get_audit_service
from carnet.auth.principal import Principal
from carnet.db import utcnow
from carnet.exceptions import AppError, BadRequest, Conflict, NotFound, ValidationFailed
from carnet.identity import schemas as register_schemas
from carnet.identity.oids import KIND_BY_OID
from carnet.identity.service import (
    SEARCH_LABELS,
    Traits,
    normalise_place,
    normalise_traits,
    person_id_for_matricule,
    register_service,
)
from carnet.identity.traits import (
    PartialDate,
    normalise_first_names,
    normalise_name,
    normalise_sex,
    phonetic_key,
)
from carnet.vigilance import schemas
from carnet.vigilance.duplicates import (
    DEFAULT_THRESHOLD,
    Profile,
    best_pairs,
    compare,
    same_place,
    swapped_date,
)
from carnet.vigilance.models import LocalIdentity, LocalIdentityEvent, Structure
from carnet.vigilance.repository import (
    BLOCKINGS,
    LocalIdentityRepository,
    StructureRepository,
    flush,
)

PARIS = ZoneInfo("Europe/Paris")
PURPOSE = "TREAT"
STRICT_TRAITS = ("birth_name", "first_names", "sex", "birth_date", "birth_place")

# fr-core-cs-identity-status-comment codes that are identity attributes (domain.md §2.3).
ATTRIBUTES: dict[str, str] = {
    "DOUT": "identité douteuse",
    "FICT": "identité fictive",
    "HOMA": "homonyme avéré",
    "HOMD": "homonyme détecté",
    "DOUB": "doublon",
    "DPOT": "doublon potentiel",
    "DOUA": "doublon avéré",
    "COLP": "collision potentielle",
    "COLV": "collision avérée",
    "DESA": "identité désactivée",
    "USUR": "identité usurpée",
    "INVA": "identité invalidée",
    "CACH": "identité cachée",
    "ANOM": "anonyme",
    "FILI": "filiation",
    "IDVER": "identité vérifiée par le patient",
    "RECD": "identité reçue d'un autre domaine",
    "IDRA": "identité rapprochée dans un autre domaine",
}
LOCKED_TO_PROV = ("DOUT", "FICT")
# Only DOUT and HOMA may be combined among DOUT, FICT and HOMA (FR Core invariant, RNIV).
INCOMPATIBLE = {"FICT": ("DOUT", "HOMA"), "DOUT": ("FICT",), "HOMA": ("FICT",)}
SUPERSEDES = {"HOMA": "HOMD", "DOUA": "DPOT", "COLV": "COLP"}
SET_BY_MERGE = "DESA"
MAX_BLOCK = 500
MAX_FIRST_NAMES_LENGTH = 255  # local_identities.first_names, like the register's column

_IPP_RE = re.compile(r"[A-Za-z0-9._/-]{1,64}")
_FINESS_RE = re.compile(r"(?:\d{2}|2[AB])\d{7}")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def today_in_france() -> date:
    return datetime.now(PARIS).date()


# -- access --------------------------------------------------------------------------------------


def _structure_not_found(structure_id: int) -> NotFound:
    return NotFound(f"structure {structure_id} not found", code="structure_not_found")


def _identity_not_found(identity_id: int) -> NotFound:
    return NotFound(f"local identity {identity_id} not found", code="identity_not_found")


def may_access(principal: Principal, structure_id: int) -> bool:
    """A client bound to a structure reaches only that one; an operator reaches every one."""
    return principal.structure_id is None or principal.structure_id == structure_id


def get_structure_or_404(session: Session, principal: Principal, structure_id: int) -> Structure:
    """The structure, if it exists *and* the caller may act on it; otherwise the same 404."""
    if not may_access(principal, structure_id):
        raise _structure_not_found(structure_id)
    structure = StructureRepository(session).get(structure_id)
    if structure is None:
        raise _structure_not_found(structure_id)
    return structure


# -- small validations ---------------------------------------------------------------------------


def _clean_text(value: str, *, field: str) -> str:
    text = value.strip()
    if not text:
        raise ValidationFailed(f"{field}: must not be empty", code="invalid_value")
    if _CONTROL_RE.search(text):
        raise ValidationFailed(f"{field}: control characters are not allowed", code="invalid_value")
    return text


def normalise_ipp(raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return None
    value = raw.strip()
    if _IPP_RE.fullmatch(value) is None:
        raise ValidationFailed(
            "ipp: letters, digits, '.', '_', '/' and '-' only (64 characters max)",
            code="invalid_ipp",
            details=[{"field": "ipp", "message": "invalid local identifier"}],
        )
    return value


def normalise_structure_identifier(raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return None
    value = raw.strip().upper().replace(" ", "")
    if len(value) == 9 and _FINESS_RE.fullmatch(value):
        return value
    if len(value) == 14 and value.isdigit() and siret.is_valid(value):
        return value
    raise ValidationFailed(
        "identifier: expected a FINESS number (9 characters) or a valid SIRET (14 digits)",
        code="invalid_identifier",
        details=[{"field": "identifier", "message": "not a FINESS or SIRET number"}],
    )


def normalise_attribute(raw: str) -> str:
    code = raw.strip().upper()
    if code == "VIDE":
        raise ValidationFailed(
            "attribute: VIDE is a status of the older FR Core generation, not an attribute",
            code="invalid_attribute",
        )
    if code not in ATTRIBUTES:
        raise ValidationFailed(
            f"attribute: unknown code {raw!r} (expected one of {', '.join(ATTRIBUTES)})",
            code="invalid_attribute",
            details=[{"field": "attribute", "message": f"unknown code {raw!r}"}],
        )
    return code


def _check_combination(codes: set[str]) -> None:
    for code, excluded in INCOMPATIBLE.items():
        clash = sorted(c for c in excluded if c in codes)
        if code in codes and clash:
            raise Conflict(
                f"attributes {code} and {clash[0]} cannot be combined (RNIV: among DOUT, FICT "
                "and HOMA only DOUT and HOMA may go together)",
                code="incompatible_attributes",
            )


def resolve_version(body_version: int | None, if_match: int | None) -> int | None:
    """The version the caller read, from the body or the If-Match header (they must agree)."""
    if body_version is not None and if_match is not None and body_version != if_match:
        raise BadRequest(
            f"version {body_version} in the body and If-Match {if_match} disagree",
            code="version_mismatch",
        )
    return body_version if body_version is not None else if_match


def _check_version(identity: LocalIdentity, version: int | None) -> None:
    if version is not None and version != identity.version:
        raise Conflict(
            f"stale version: local identity {identity.id} is at version {identity.version}, "
            f"not {version}; read it again and retry",
            code="stale_version",
        )


def _require_active(identity: LocalIdentity) -> None:
    if not identity.active:
        raise Conflict(
            f"local identity {identity.id} is deactivated (merged into {identity.merged_into_id}):"
            " it is read-only until unmerged",
            code="identity_inactive",
        )


def _attributes(identity: LocalIdentity) -> set[str]:
    return set(identity.attributes.split())


def _locking_attribute(identity: LocalIdentity) -> str | None:
    codes = _attributes(identity)
    return next((c for c in LOCKED_TO_PROV if c in codes), None)


# -- mapping -------------------------------------------------------------------------------------


def _traits(
    *,
    birth_name: str,
    first_names: str | list[str],
    sex: str,
    birth_date: str,
    birth_place: str | None,
) -> Traits:
    """The five strict traits normalised like the register's, and fitting the columns."""
    traits = normalise_traits(
        birth_name=birth_name,
        first_names=first_names,
        sex=sex,
        birth_date=birth_date,
        birth_place=birth_place,
    )
    length = len(" ".join(traits.first_names))
    if length > MAX_FIRST_NAMES_LENGTH:
        raise ValidationFailed(
            f"first_names: {length} characters once normalised, {MAX_FIRST_NAMES_LENGTH} max",
            code="invalid_trait",
            details=[{"field": "first_names", "message": "too long"}],
        )
    return traits


def _set_traits(identity: LocalIdentity, traits: Traits) -> None:
    identity.birth_name = traits.birth_name
    identity.first_names = " ".join(traits.first_names)
    identity.sex = traits.sex
    identity.birth_date = traits.birth_date.isoformat()
    identity.birth_place = traits.birth_place
    identity.birth_name_key = phonetic_key(traits.birth_name)
    identity.birth_year = traits.birth_date.year


def _set_used_name(identity: LocalIdentity, used_name: str | None) -> None:
    identity.used_name = used_name
    identity.used_name_key = phonetic_key(used_name) if used_name else None


def _optional_name(raw: str | None, *, field: str) -> str | None:
    if raw is None or not raw.strip():
        return None
    return normalise_name(raw, field=field)


def _ins_out(identity: LocalIdentity) -> schemas.InsOut | None:
    """The INS, only for a qualified identity (domain.md §1.2, §2.1)."""
    if identity.status != "QUAL" or not identity.ins_matricule or not identity.ins_oid:
        return None
    kind = KIND_BY_OID.get(identity.ins_oid, "NIR")
    return schemas.InsOut(matricule=identity.ins_matricule, kind=kind, oid=identity.ins_oid)


def to_schema(identity: LocalIdentity) -> schemas.LocalIdentity:
    return schemas.LocalIdentity(
        id=identity.id,
        structure_id=identity.structure_id,
        ipp=identity.ipp,
        status=identity.status,
        attributes=sorted(_attributes(identity)),
        active=identity.active,
        merged_into_id=identity.merged_into_id,
        traits=schemas.TraitsOut(
            birth_name=identity.birth_name,
            first_names=identity.first_names.split(),
            sex=identity.sex,
            birth_date=identity.birth_date,
            birth_place=identity.birth_place,
        ),
        used_name=identity.used_name,
        used_first_name=identity.used_first_name,
        validation_mode=identity.validation_mode,
        validation_date=identity.validation_date,
        collection_method=identity.collection_method,
        insi_retrieved_at=identity.insi_retrieved_at,
        ins=_ins_out(identity),
        version=identity.version,
        created_at=identity.created_at,
        updated_at=identity.updated_at,
    )


def structure_schema(structure: Structure) -> schemas.StructureOut:
    return schemas.StructureOut(
        id=structure.id,
        name=structure.name,
        identifier=structure.identifier,
        created_at=structure.created_at,
    )


# The fields a snapshot keeps and an unmerge restores (traits cannot change while merged).
_RESTORED = (
    "status",
    "attributes",
    "active",
    "merged_into_id",
    "validation_mode",
    "validation_date",
    "insi_retrieved_at",
    "collection_method",
    "ins_matricule",
    "ins_oid",
    "person_id",
)
_SNAPSHOT = (
    "ipp",
    "birth_name",
    "first_names",
    "sex",
    "birth_date",
    "birth_place",
    "used_name",
    "used_first_name",
    *_RESTORED,
    "version",
)


def snapshot(identity: LocalIdentity) -> dict[str, Any]:
    """The identity's state as JSON-safe values."""
    out: dict[str, Any] = {}
    for name in _SNAPSHOT:
        value = getattr(identity, name)
        out[name] = value.isoformat() if isinstance(value, date | datetime) else value
    return out


def _restore(identity: LocalIdentity, state: dict[str, Any]) -> None:
    for name in _RESTORED:
        value = state.get(name)
        if name == "validation_date" and value is not None:
            value = date.fromisoformat(value)
        elif name == "insi_retrieved_at" and value is not None:
            value = datetime.fromisoformat(value)
        setattr(identity, name, value)


def _drop_to_prov(identity: LocalIdentity) -> None:
    """PROV without INS nor document check (DOUT/FICT, or a strict trait changed undocumented)."""
    identity.status = "PROV"
    identity.validation_mode = None
    identity.validation_date = None
    _remove_ins(identity)


def _remove_ins(identity: LocalIdentity) -> None:
    identity.ins_matricule = None
    identity.ins_oid = None
    identity.person_id = None


@dataclass(frozen=True)
class _Coherence:
    differences: list[schemas.TraitDifference]

    @property
    def coherent(self) -> bool:
        return not self.differences


def _coherence(identity: LocalIdentity, returned: register_schemas.ReferenceTraits) -> _Coherence:
    """Compare the traits INSi returned with the local ones (domain.md §3.2)."""
    differences = []
    local_first = identity.first_names.split()[0]
    checks: list[tuple[str, bool, str | None, str | None]] = [
        (
            "birth_name",
            identity.birth_name == returned.birth_name,
            identity.birth_name,
            returned.birth_name,
        ),
        (
            "first_names",
            local_first in returned.first_names,
            identity.first_names,
            returned.first_names_text,
        ),
        ("sex", identity.sex == returned.sex, identity.sex, returned.sex),
        (
            "birth_date",
            identity.birth_date == returned.birth_date,
            identity.birth_date,
            returned.birth_date,
        ),
        (
            "birth_place",
            identity.birth_place is None
            or (
                returned.birth_place is not None
                and same_place(identity.birth_place, returned.birth_place)
            ),
            identity.birth_place,
            returned.birth_place,
        ),
    ]
    for trait, same, local, register in checks:
        if not same:
            differences.append(schemas.TraitDifference(trait=trait, local=local, insi=register))
    return _Coherence(differences)


# -- the service ---------------------------------------------------------------------------------


class VigilanceService:
    # -- structures ------------------------------------------------------------------------------

    def create_structure(
        self, session: Session, principal: Principal, body: schemas.StructureCreate
    ) -> schemas.StructureOut:
        if principal.structure_id is not None:
            raise AppError(
                "only an operator client (not bound to a structure) may create structures",
                code="operator_only",
                status_code=403,
            )
        name = _clean_text(body.name, field="name")
        identifier = normalise_structure_identifier(body.identifier)
        repo = StructureRepository(session)
        if identifier is not None and repo.get_by_identifier(identifier) is not None:
            raise Conflict(
                f"identifier: a structure with identifier {identifier} already exists",
                code="structure_exists",
            )
        structure = repo.add(Structure(name=name, identifier=identifier))
        return structure_schema(structure)

    def get_structure(
        self, session: Session, principal: Principal, structure_id: int
    ) -> schemas.StructureOut:
        return structure_schema(get_structure_or_404(session, principal, structure_id))

    def list_structures(self, session: Session, principal: Principal) -> list[schemas.StructureOut]:
        rows = StructureRepository(session).list(principal.structure_id)
        return [structure_schema(s) for s in rows]

    # -- helpers ---------------------------------------------------------------------------------

    def _load(
        self, session: Session, principal: Principal, structure_id: int, identity_id: int
    ) -> LocalIdentity:
        get_structure_or_404(session, principal, structure_id)
        identity = LocalIdentityRepository(session).get(identity_id)
        if identity is None or identity.structure_id != structure_id:
            raise _identity_not_found(identity_id)
        return identity

    def _audit(
        self,
        session: Session,
        principal: Principal,
        identity: LocalIdentity,
        action: str,
        *,
        outcome: str = "success",
        detail: str | None = None,
        person_id: int | None = None,
        purpose: str = PURPOSE,
    ) -> None:
        get_audit_service().record(
            session,
            actor=principal.actor,
            action=action,
            person_id=person_id if person_id is not None else identity.person_id,
            resource=f"LocalIdentity/{identity.id}",
            purpose=purpose,
            outcome=outcome,
            detail=detail,
        )

    def _event(
        self,
        session: Session,
        principal: Principal,
        identity: LocalIdentity,
        action: str,
        before: dict[str, Any] | None,
        detail: str | None = None,
    ) -> None:
        LocalIdentityRepository(session).add_event(
            LocalIdentityEvent(
                identity_id=identity.id,
                structure_id=identity.structure_id,
                person_id=identity.person_id
                if identity.person_id is not None
                else (before or {}).get("person_id"),
                at=utcnow(),
                actor=principal.actor[:80],
                action=action,
                detail=detail[:500] if detail else None,
                snapshot=before,
            )
        )

    # -- create, read, search ----------------------------------------------------------------------

    def create_identity(
        self,
        session: Session,
        principal: Principal,
        structure_id: int,
        body: schemas.LocalIdentityCreate,
    ) -> schemas.LocalIdentity:
        """A new local identity, always PROV (audited ``identity.create``)."""
        get_structure_or_404(session, principal, structure_id)
        traits = _traits(
            birth_name=body.birth_name,
            first_names=body.first_names,
            sex=body.sex,
            birth_date=body.birth_date,
            birth_place=body.birth_place,
        )
        if body.collection_method == "INSI":
            raise ValidationFailed(
                "collection_method: INSI is set by an INSi retrieval "
                "(POST .../insi-retrieval), not at creation",
                code="invalid_collection_method",
            )
        codes = {normalise_attribute(code) for code in body.attributes}
        if SET_BY_MERGE in codes:
            raise ValidationFailed(
                "attributes: DESA is set by a merge, not at creation", code="invalid_attribute"
            )
        for confirmed, potential in SUPERSEDES.items():
            if confirmed in codes:
                codes.discard(potential)
        _check_combination(codes)
        ipp = normalise_ipp(body.ipp)
        repo = LocalIdentityRepository(session)
        if ipp is not None and repo.get_by_ipp(structure_id, ipp) is not None:
            raise Conflict(
                f"ipp: {ipp} is already the IPP of another identity of this structure",
                code="ipp_in_use",
            )
        identity = LocalIdentity(
            structure_id=structure_id,
            ipp=ipp,
            used_first_name=_optional_name(body.used_first_name, field="used_first_name"),
            status="PROV",
            attributes=" ".join(sorted(codes)),
            collection_method=body.collection_method,
            active=True,
        )
        _set_traits(identity, traits)
        _set_used_name(identity, _optional_name(body.used_name, field="used_name"))
        repo.add(identity)
        self._event(session, principal, identity, "create", None)
        self._audit(session, principal, identity, "identity.create")
        return to_schema(identity)

    def get_identity(
        self,
        session: Session,
        principal: Principal,
        identity_id: int,
        *,
        structure_id: int | None = None,
        purpose: str = PURPOSE,
    ) -> schemas.LocalIdentity:
        """One identity (audited ``identity.read``); 404 if absent or out of the caller's reach.

        Without ``structure_id`` (a FHIR ``Patient/{id}`` read) the identity's own structure is
        checked against the caller's binding.
        """
        if structure_id is not None:
            identity = self._load(session, principal, structure_id, identity_id)
        else:
            found = LocalIdentityRepository(session).get(identity_id)
            if found is None or not may_access(principal, found.structure_id):
                raise _identity_not_found(identity_id)
            identity = found
        self._audit(session, principal, identity, "identity.read", purpose=purpose)
        return to_schema(identity)

    def search_identities(
        self,
        session: Session,
        principal: Principal,
        structure_id: int | None,
        query: schemas.IdentitySearch,
    ) -> schemas.IdentityPage:
        """A page of the structure's identities (each one returned is audited).

        ``structure_id`` None means the caller's own structure; an operator must name one.
        """
        if structure_id is None:
            if principal.structure_id is None:
                raise ValidationFailed(
                    "structure: a client not bound to a structure must name the structure",
                    code="structure_required",
                )
            structure_id = principal.structure_id
        get_structure_or_404(session, principal, structure_id)
        criteria: dict[str, Any] = {}
        if query.name is not None and query.name.strip():
            name = normalise_name(query.name, field="name")
            if query.exact:
                criteria["name"] = name
            else:
                criteria["name_key"] = phonetic_key(name)
        if query.first_name is not None and query.first_name.strip():
            first = normalise_first_names(query.first_name, field="first_name")
            if len(first) != 1:
                raise ValidationFailed("first_name: give one first name", code="invalid_trait")
            criteria["first_name"] = first[0]
        if query.birth_date is not None and query.birth_date.strip():
            when = PartialDate.parse(query.birth_date, field="birth_date")
            if when.is_complete:
                criteria["birth_date"] = when.isoformat()
            elif when.month_known:
                prefix = f"{when.year:04d}-{when.month:02d}"
                criteria["birth_date_range"] = (f"{prefix}-00", f"{prefix}-99")
            else:
                criteria["birth_year"] = when.year
        if query.sex is not None and query.sex.strip():
            criteria["sex"] = normalise_sex(query.sex)
        if query.ipp is not None and query.ipp.strip():
            criteria["ipp"] = normalise_ipp(query.ipp)
        total, rows = LocalIdentityRepository(session).search(
            structure_id,
            status=query.status,
            include_inactive=query.include_inactive,
            limit=query.limit,
            offset=query.offset,
            **criteria,
        )
        audit = get_audit_service()
        for identity in rows:
            self._audit(session, principal, identity, "identity.search")
        if not rows:
            audit.record(
                session,
                actor=principal.actor,
                action="identity.search",
                resource=f"Structure/{structure_id}",
                purpose=PURPOSE,
                outcome="none",
            )
        return schemas.IdentityPage(
            total=total,
            limit=query.limit,
            offset=query.offset,
            items=[to_schema(identity) for identity in rows],
        )

    def history(
        self, session: Session, principal: Principal, structure_id: int, identity_id: int
    ) -> list[schemas.HistoryEntry]:
        identity = self._load(session, principal, structure_id, identity_id)
        self._audit(session, principal, identity, "identity.read", detail="history")
        return [
            schemas.HistoryEntry(id=e.id, at=e.at, actor=e.actor, action=e.action, detail=e.detail)
            for e in LocalIdentityRepository(session).events(identity.id)
        ]

    # -- changes ---------------------------------------------------------------------------------

    def update_identity(
        self,
        session: Session,
        principal: Principal,
        structure_id: int,
        identity_id: int,
        body: schemas.LocalIdentityUpdate,
        version: int | None,
    ) -> schemas.LocalIdentity:
        """Change traits, used names or IPP; ``version`` is required (optimistic concurrency)."""
        if version is None:
            raise AppError(
                "version: give the version you read (If-Match header or body 'version')",
                code="precondition_required",
                status_code=428,
            )
        identity = self._load(session, principal, structure_id, identity_id)
        _check_version(identity, version)
        _require_active(identity)
        given = body.model_fields_set - {"version", "validation_mode"}
        for required in ("birth_name", "first_names", "sex", "birth_date"):
            if required in given and getattr(body, required) is None:
                raise ValidationFailed(f"{required}: cannot be removed", code="invalid_trait")
        traits = _traits(
            birth_name=body.birth_name or identity.birth_name,
            first_names=(
                body.first_names if body.first_names is not None else identity.first_names
            ),
            sex=body.sex or identity.sex,
            birth_date=body.birth_date or identity.birth_date,
            birth_place=body.birth_place if "birth_place" in given else identity.birth_place,
        )
        new = {
            "birth_name": traits.birth_name,
            "first_names": " ".join(traits.first_names),
            "sex": traits.sex,
            "birth_date": traits.birth_date.isoformat(),
            "birth_place": traits.birth_place,
        }
        changed = [t for t in STRICT_TRAITS if new[t] != getattr(identity, t)]
        if body.validation_mode is not None and not changed:
            raise ValidationFailed(
                "validation_mode: only accepted with a change of a strict trait "
                "(use POST .../document-check to record a document check)",
                code="invalid_validation_mode",
            )
        if body.validation_mode is not None and _locking_attribute(identity):
            raise Conflict(
                f"identity marked {_locking_attribute(identity)}: its status must stay PROV, "
                "no document check may be recorded (RNIV)",
                code="status_locked",
            )
        repo = LocalIdentityRepository(session)
        if "ipp" in given:
            ipp = normalise_ipp(body.ipp)
            if ipp is not None and ipp != identity.ipp:
                other = repo.get_by_ipp(structure_id, ipp)
                if other is not None and other.id != identity.id:
                    raise Conflict(
                        f"ipp: {ipp} is already the IPP of another identity of this structure",
                        code="ipp_in_use",
                    )
        before = snapshot(identity)
        if "ipp" in given:
            identity.ipp = normalise_ipp(body.ipp)
        if "used_name" in given:
            _set_used_name(identity, _optional_name(body.used_name, field="used_name"))
        if "used_first_name" in given:
            identity.used_first_name = _optional_name(body.used_first_name, field="used_first_name")
        detail = None
        if changed:
            _set_traits(identity, traits)
            old_status = identity.status
            _remove_ins(identity)
            if body.validation_mode is not None:
                identity.status = "VALI"
                identity.validation_mode = body.validation_mode
                identity.validation_date = today_in_france()
            else:
                _drop_to_prov(identity)
            detail = (
                f"strict traits changed: {', '.join(changed)}; {old_status} -> {identity.status}"
            )
        if session.is_modified(identity):
            repo.flush()
            self._event(session, principal, identity, "update", before, detail)
        self._audit(session, principal, identity, "identity.update", detail=detail)
        return to_schema(identity)

    def retrieve_ins(
        self,
        session: Session,
        principal: Principal,
        structure_id: int,
        identity_id: int,
        version: int | None = None,
    ) -> schemas.InsiRetrievalResponse:
        """INSi-like retrieval of the identity's INS from the register (see the module doc)."""
        identity = self._load(session, principal, structure_id, identity_id)
        _check_version(identity, version)
        _require_active(identity)
        locked = _locking_attribute(identity)
        if locked is not None:
            raise Conflict(
                f"identity marked {locked} ({ATTRIBUTES[locked]}): the RNIV forbids calling INSi "
                "for it and its status must stay PROV",
                code="insi_forbidden",
            )
        response, calls = self._search_register(session, principal, identity)
        if response.code != "00" or response.identity is None:
            outcome = "not_found" if response.code == "01" else "several"
            self._audit(
                session, principal, identity, "identity.insi_retrieval", outcome=response.code
            )
            return schemas.InsiRetrievalResponse(
                code=response.code,
                label=response.label,
                outcome=outcome,
                calls=calls,
                identity=to_schema(identity),
            )
        found = response.identity
        coherence = _coherence(identity, found.traits)
        if not coherence.coherent:
            self._audit(
                session,
                principal,
                identity,
                "identity.insi_retrieval",
                outcome="incoher",
                detail="differs: " + ", ".join(d.trait for d in coherence.differences),
            )
            return schemas.InsiRetrievalResponse(
                code="00",
                label=response.label,
                outcome="incoherent",
                differences=coherence.differences,
                calls=calls,
                identity=to_schema(identity),
            )
        # Queried before any change: a query autoflushes, which would bump the version twice.
        person_id = person_id_for_matricule(session, found.ins.matricule)
        before = snapshot(identity)
        old_status = identity.status
        place = found.traits.birth_place or identity.birth_place
        _set_traits(
            identity,
            Traits(
                birth_name=found.traits.birth_name,
                first_names=list(found.traits.first_names),
                sex=found.traits.sex,
                birth_date=PartialDate.parse(found.traits.birth_date, field="birth_date"),
                birth_place=place,
            ),
        )
        identity.ins_matricule = found.ins.matricule
        identity.ins_oid = found.ins.oid
        identity.person_id = person_id
        identity.collection_method = "INSI"
        identity.insi_retrieved_at = utcnow()
        identity.status = "QUAL" if old_status in ("VALI", "QUAL") else "RECUP"
        LocalIdentityRepository(session).flush()
        detail = f"{old_status} -> {identity.status}"
        self._event(session, principal, identity, "insi_retrieval", before, detail)
        self._audit(
            session, principal, identity, "identity.insi_retrieval", outcome="00", detail=detail
        )
        return schemas.InsiRetrievalResponse(
            code="00",
            label=response.label,
            outcome="retrieved",
            calls=calls,
            identity=to_schema(identity),
        )

    def _search_register(
        self, session: Session, principal: Principal, identity: LocalIdentity
    ) -> tuple[register_schemas.InsSearchResponse, list[schemas.InsiCall]]:
        """Each birth first name alone, then the whole list; the birth place after a 02."""
        names = identity.first_names.split()
        attempts: list[list[str]] = [[name] for name in names]
        if len(names) > 1:
            attempts.append(names)
        calls: list[schemas.InsiCall] = []
        several: register_schemas.InsSearchResponse | None = None
        last: register_schemas.InsSearchResponse | None = None
        for first_names in attempts:
            places = [None, identity.birth_place] if identity.birth_place else [None]
            for place in places:
                last = register_service.search(
                    session,
                    principal,
                    register_schemas.InsSearchRequest(
                        birth_name=identity.birth_name,
                        first_name=first_names if len(first_names) > 1 else first_names[0],
                        sex=identity.sex,
                        birth_date=identity.birth_date,
                        birth_place=place,
                    ),
                    purpose=PURPOSE,
                )
                calls.append(
                    schemas.InsiCall(
                        first_name=" ".join(first_names),
                        with_birth_place=place is not None,
                        code=last.code,
                    )
                )
                if last.code == "00":
                    return last, calls
                if last.code != "02":
                    break
                several = last
        if several is not None:
            return several, calls
        assert last is not None  # at least one first name: at least one call
        return register_schemas.InsSearchResponse(code="01", label=SEARCH_LABELS["01"]), calls

    def check_document(
        self,
        session: Session,
        principal: Principal,
        structure_id: int,
        identity_id: int,
        body: schemas.DocumentCheckRequest,
        version: int | None = None,
    ) -> schemas.LocalIdentity:
        """Record a check against a high-trust document: VALI, or QUAL from RECUP."""
        identity = self._load(session, principal, structure_id, identity_id)
        _check_version(identity, version)
        _require_active(identity)
        locked = _locking_attribute(identity)
        if locked is not None:
            raise Conflict(
                f"identity marked {locked} ({ATTRIBUTES[locked]}): its status must stay PROV, a "
                "document check cannot raise it (RNIV)",
                code="status_locked",
            )
        today = today_in_france()
        when = body.validation_date or today
        if when > today:
            raise ValidationFailed(
                f"validation_date: {when.isoformat()} is in the future", code="invalid_date"
            )
        if body.checked_traits is not None:
            differences = self._document_differences(identity, body.checked_traits)
            if differences:
                raise Conflict(
                    "the document's traits differ from the identity's: "
                    + ", ".join(differences)
                    + " (correct the identity first)",
                    code="document_mismatch",
                    details=[
                        {"field": f"checked_traits.{t}", "message": "differs from the identity"}
                        for t in differences
                    ],
                )
        before = snapshot(identity)
        old_status = identity.status
        identity.status = "QUAL" if old_status in ("RECUP", "QUAL") else "VALI"
        identity.validation_mode = body.validation_mode
        identity.validation_date = when
        LocalIdentityRepository(session).flush()
        detail = f"{body.validation_mode}; {old_status} -> {identity.status}"
        self._event(session, principal, identity, "document_check", before, detail)
        self._audit(session, principal, identity, "identity.document_check", detail=detail)
        return to_schema(identity)

    @staticmethod
    def _document_differences(
        identity: LocalIdentity, document: schemas.DocumentTraits
    ) -> list[str]:
        differences = []
        if document.birth_name is not None and (
            normalise_name(document.birth_name, field="checked_traits.birth_name")
            != identity.birth_name
        ):
            differences.append("birth_name")
        if document.first_names is not None and (
            normalise_first_names(document.first_names, field="checked_traits.first_names")
            != identity.first_names.split()
        ):
            differences.append("first_names")
        if document.sex is not None and normalise_sex(document.sex) != identity.sex:
            differences.append("sex")
        if document.birth_date is not None and (
            PartialDate.parse(document.birth_date, field="checked_traits.birth_date").isoformat()
            != identity.birth_date
        ):
            differences.append("birth_date")
        place = normalise_place(document.birth_place, field="checked_traits.birth_place")
        if place is not None and (
            identity.birth_place is None or not same_place(place, identity.birth_place)
        ):
            differences.append("birth_place")
        return differences

    def _attribute_target(
        self,
        session: Session,
        principal: Principal,
        structure_id: int,
        identity_id: int,
        raw_code: str,
        version: int | None,
        desa_hint: str,
    ) -> tuple[str, LocalIdentity]:
        """The attribute code and the active identity it is set on or removed from.

        DESA is refused: only a merge sets it and an unmerge removes it (``desa_hint`` says which).
        """
        code = normalise_attribute(raw_code)
        identity = self._load(session, principal, structure_id, identity_id)
        _check_version(identity, version)
        _require_active(identity)
        if code == SET_BY_MERGE:
            raise Conflict(f"DESA is {desa_hint}", code="attribute_set_by_merge")
        return code, identity

    def add_attribute(
        self,
        session: Session,
        principal: Principal,
        structure_id: int,
        identity_id: int,
        raw_code: str,
        version: int | None = None,
    ) -> schemas.LocalIdentity:
        code, identity = self._attribute_target(
            session,
            principal,
            structure_id,
            identity_id,
            raw_code,
            version,
            "set by merging the identity into another (POST .../merge)",
        )
        codes = _attributes(identity)
        confirmed = next((c for c, potential in SUPERSEDES.items() if potential == code), None)
        if code in codes or confirmed in codes:
            # Already set, or its confirmed form is (HOMD next to HOMA would contradict it).
            had = "had" if code in codes else f"{confirmed} set"
            self._audit(
                session, principal, identity, "identity.attribute", detail=f"+{code} ({had})"
            )
            return to_schema(identity)
        new_codes = (codes | {code}) - ({SUPERSEDES[code]} if code in SUPERSEDES else set())
        _check_combination(new_codes)
        before = snapshot(identity)
        old_status = identity.status
        identity.attributes = " ".join(sorted(new_codes))
        detail = f"+{code}"
        if code in LOCKED_TO_PROV:
            _drop_to_prov(identity)
            if old_status != "PROV":
                detail += f"; {old_status} -> PROV, INS removed"
        LocalIdentityRepository(session).flush()
        self._event(session, principal, identity, "attribute_add", before, detail)
        self._audit(
            session,
            principal,
            identity,
            "identity.attribute",
            detail=detail,
            person_id=identity.person_id or before["person_id"],
        )
        return to_schema(identity)

    def remove_attribute(
        self,
        session: Session,
        principal: Principal,
        structure_id: int,
        identity_id: int,
        raw_code: str,
        version: int | None = None,
    ) -> schemas.LocalIdentity:
        code, identity = self._attribute_target(
            session,
            principal,
            structure_id,
            identity_id,
            raw_code,
            version,
            "removed by unmerging the identity (POST .../unmerge)",
        )
        codes = _attributes(identity)
        if code not in codes:
            raise NotFound(
                f"attribute {code} is not set on local identity {identity.id}",
                code="attribute_not_set",
            )
        before = snapshot(identity)
        identity.attributes = " ".join(sorted(codes - {code}))
        LocalIdentityRepository(session).flush()
        self._event(session, principal, identity, "attribute_remove", before, f"-{code}")
        self._audit(session, principal, identity, "identity.attribute", detail=f"-{code}")
        return to_schema(identity)

    # -- merge -----------------------------------------------------------------------------------

    def merge(
        self,
        session: Session,
        principal: Principal,
        structure_id: int,
        identity_id: int,
        body: schemas.MergeRequest,
        version: int | None = None,
    ) -> schemas.LocalIdentity:
        """Deactivate ``identity_id`` as a duplicate of ``body.into`` (returns the loser)."""
        reason = _clean_text(body.reason, field="reason")
        loser = self._load(session, principal, structure_id, identity_id)
        _check_version(loser, version)
        if body.into == loser.id:
            raise ValidationFailed(
                "into: an identity cannot be merged into itself", code="self_merge"
            )
        winner = LocalIdentityRepository(session).get(body.into)
        if winner is None or winner.structure_id != structure_id:
            raise NotFound(
                f"into: local identity {body.into} not found in structure {structure_id}",
                code="identity_not_found",
            )
        if not loser.active:
            raise Conflict(
                f"local identity {loser.id} is already merged into {loser.merged_into_id}",
                code="identity_inactive",
            )
        if not winner.active:
            raise Conflict(
                f"into: local identity {winner.id} is deactivated (merged into "
                f"{winner.merged_into_id}); merge into an active identity",
                code="target_inactive",
            )
        if (
            loser.ins_matricule
            and winner.ins_matricule
            and loser.ins_matricule != winner.ins_matricule
        ):
            raise Conflict(
                "the two identities hold different INS: they are not duplicates of one person "
                "(check for a collision instead)",
                code="different_ins",
            )
        if loser.ins_matricule and not winner.ins_matricule:
            raise Conflict(
                f"local identity {loser.id} holds an INS and {winner.id} does not: keep the more "
                f"reliable one (merge {winner.id} into {loser.id})",
                code="keep_the_ins",
            )
        before = snapshot(loser)
        winner_before = snapshot(winner)
        loser.active = False
        loser.merged_into_id = winner.id
        loser.attributes = " ".join(sorted(_attributes(loser) | {SET_BY_MERGE}))
        # The kept identity is written too (its version moves on), so that both rows are
        # version-checked: a concurrent merge of the winner into another identity, or crossed
        # merges (A into B and B into A), make the later flush fail (409) instead of leaving an
        # active identity merged into an inactive one, or two identities merged into each other.
        winner.updated_at = utcnow()
        LocalIdentityRepository(session).flush()
        detail = f"into LocalIdentity/{winner.id}: {reason}"
        self._event(session, principal, loser, "merge", before, detail)
        self._event(
            session,
            principal,
            winner,
            "merge_absorb",
            winner_before,
            f"absorbed LocalIdentity/{loser.id}: {reason}",
        )
        self._audit(session, principal, loser, "identity.merge", detail=detail)
        self._audit(
            session,
            principal,
            winner,
            "identity.merge",
            detail=f"absorbed LocalIdentity/{loser.id}",
        )
        return to_schema(loser)

    def unmerge(
        self,
        session: Session,
        principal: Principal,
        structure_id: int,
        identity_id: int,
        body: schemas.UnmergeRequest | None,
        version: int | None = None,
    ) -> schemas.LocalIdentity:
        """Restore a merged identity exactly as it was before its merge."""
        reason = _clean_text(body.reason, field="reason") if body and body.reason else None
        identity = self._load(session, principal, structure_id, identity_id)
        _check_version(identity, version)
        if identity.active or identity.merged_into_id is None:
            raise Conflict(
                f"local identity {identity.id} is not merged: nothing to undo",
                code="not_merged",
            )
        repo = LocalIdentityRepository(session)
        merge_event = repo.last_event(identity.id, ["merge"])
        if merge_event is None or merge_event.snapshot is None:
            raise Conflict(
                f"local identity {identity.id} has no recorded merge to undo",
                code="not_merged",
            )
        before = snapshot(identity)
        into = identity.merged_into_id
        _restore(identity, merge_event.snapshot)
        repo.flush()
        detail = f"from LocalIdentity/{into}" + (f": {reason}" if reason else "")
        self._event(session, principal, identity, "unmerge", before, detail)
        former = repo.get(into)
        if former is not None:
            # The kept identity's history shows the absorption undone, not only the absorption.
            self._event(
                session,
                principal,
                former,
                "unmerge_release",
                None,
                f"released LocalIdentity/{identity.id}" + (f": {reason}" if reason else ""),
            )
        self._audit(session, principal, identity, "identity.unmerge", detail=detail)
        return to_schema(identity)

    # -- duplicates ------------------------------------------------------------------------------

    def find_duplicates(
        self,
        session: Session,
        principal: Principal,
        structure_id: int,
        identity_id: int,
        threshold: float = DEFAULT_THRESHOLD,
        limit: int = 20,
    ) -> schemas.DuplicatesResponse:
        """Probable duplicates (and collisions) of one identity in its structure, best first."""
        identity = self._load(session, principal, structure_id, identity_id)
        profile = Profile.from_row(identity)
        year, month, day = identity.birth_date.split("-")
        # Its own date, day and month transposed, and the partial forms that may stand for it.
        dates = {identity.birth_date, f"{year}-{month}-00", f"{year}-00-00"}
        swapped = swapped_date(identity.birth_date)
        if swapped:
            dates.add(swapped)
        month_days = {f"{month}-{day}", f"{day}-{month}"} if month != "00" else set()
        # An unknown day stands for every day of its month: the full dates of that month are
        # candidates too (one index range), as the partial date is a candidate of each of them.
        month_range = (
            (f"{year}-{month}-01", f"{year}-{month}-31") if month != "00" and day == "00" else None
        )
        keys = [k for k in {identity.birth_name_key, identity.used_name_key} if k]
        rows = LocalIdentityRepository(session).candidates(
            structure_id,
            identity.id,
            name_keys=sorted(keys),
            birth_year=identity.birth_year,
            month_days=sorted(month_days),
            birth_dates=sorted(dates),
            ins_matricule=identity.ins_matricule,
            birth_date_range=month_range,
        )
        scored = []
        for row in rows:
            match = compare(profile, Profile.from_row(row))
            if match.score >= threshold and match.kind != "different":
                scored.append((match, row))
        scored.sort(key=lambda item: (-item[0].score, item[1].id))
        scored = scored[:limit]
        self._audit(
            session,
            principal,
            identity,
            "identity.duplicates",
            detail=f"candidates={len(scored)}",
        )
        audit = get_audit_service()
        for _match, row in scored:
            audit.record(
                session,
                actor=principal.actor,
                action="identity.read",
                person_id=row.person_id,
                resource=f"LocalIdentity/{row.id}",
                purpose=PURPOSE,
                detail=f"duplicate candidate of LocalIdentity/{identity.id}",
            )
        return schemas.DuplicatesResponse(
            identity_id=identity.id,
            threshold=threshold,
            candidates=[
                schemas.DuplicateCandidate(
                    identity_id=row.id,
                    ipp=row.ipp,
                    status=row.status,
                    score=match.score,
                    kind=match.kind,
                    suggested_attribute=match.suggested_attribute,
                    reasons=[
                        schemas.TraitScoreOut(trait=r.trait, score=r.score, reason=r.reason)
                        for r in match.reasons
                    ],
                )
                for match, row in scored
            ],
        )

    def duplicate_report(
        self,
        session: Session,
        principal: Principal,
        structure_id: int,
        threshold: float = DEFAULT_THRESHOLD,
    ) -> Iterator[schemas.DuplicatePair]:
        """Every candidate pair of a structure scoring at least ``threshold``, streamed.

        Blocking (never n²): the structure is read once per blocking key (``repository.BLOCKINGS``:
        name key + birth year, name key + unordered month/day, birth year + unordered month/day,
        INS), sorted by that key, and only identities sharing the key are compared. A block larger
        than ``MAX_BLOCK`` (a default date typed for many patients) is split by sex and initial of
        the first first name. A pair is reported once, the first time it is found.

        Audit: the report as a whole (``identity.duplicates`` on the structure) and, since a line
        discloses traits of both identities (the reasons), an ``identity.read`` of each identity
        the first time it appears in a reported pair, recorded before the pair is handed out.
        """
        get_structure_or_404(session, principal, structure_id)
        audit = get_audit_service()
        audit.record(
            session,
            actor=principal.actor,
            action="identity.duplicates",
            resource=f"Structure/{structure_id}",
            purpose=PURPOSE,
            detail=f"batch report, threshold={threshold}",
        )
        repo = LocalIdentityRepository(session)
        reported: set[tuple[int, int]] = set()
        audited: set[int] = set()
        for blocking in BLOCKINGS:
            for block in repo.iter_blocks(structure_id, blocking):
                for part in _split(block):
                    persons = {row.id: row.person_id for row in part}
                    profiles = [Profile.from_row(row) for row in part]
                    for a, b, match in best_pairs(profiles, threshold):
                        if match.kind == "different" or (a.id, b.id) in reported:
                            continue
                        reported.add((a.id, b.id))
                        for one in (a.id, b.id):
                            if one not in audited:
                                audited.add(one)
                                audit.record(
                                    session,
                                    actor=principal.actor,
                                    action="identity.read",
                                    person_id=persons.get(one),
                                    resource=f"LocalIdentity/{one}",
                                    purpose=PURPOSE,
                                    detail="duplicates report",
                                )
                        yield schemas.DuplicatePair(
                            identity_a=a.id,
                            identity_b=b.id,
                            ipp_a=a.ipp,
                            ipp_b=b.ipp,
                            score=match.score,
                            kind=match.kind,
                            suggested_attribute=match.suggested_attribute,
                            reasons=[
                                schemas.TraitScoreOut(trait=r.trait, score=r.score, reason=r.reason)
                                for r in match.reasons
                            ],
                        )


def _split(block: list[Any]) -> list[list[Any]]:
    if len(block) <= MAX_BLOCK:
        return [block]
    parts: dict[tuple[str, str], list[Any]] = {}
    for row in block:
        parts.setdefault((row.sex, row.first_names[:1]), []).append(row)
    return [part for part in parts.values() if len(part) > 1]


vigilance_service = VigilanceService()


class EnsuredStructure(NamedTuple):
    id: int
    created: bool


def ensure_structures(
    session: Session, structures: Iterable[tuple[str, str]]
) -> dict[str, EnsuredStructure]:
    """The structures with these identifiers, created when unknown (the directory import).

    ``structures`` holds (identifier, name) pairs, the identifier normalised by
    ``normalise_structure_identifier``. An existing structure keeps its name: vigilance owns it.
    No access check: this serves the platform's own bulk loads, not a client request.
    """
    repo = StructureRepository(session)
    found: dict[str, EnsuredStructure] = {}
    new: dict[str, Structure] = {}
    for identifier, name in structures:
        if identifier in found or identifier in new:
            continue
        structure = repo.get_by_identifier(identifier)
        if structure is not None:
            found[identifier] = EnsuredStructure(structure.id, False)
        else:
            new[identifier] = Structure(
                name=_clean_text(name, field="name")[:200], identifier=identifier
            )
    # One flush for the batch: the inserts go out together.
    session.add_all(new.values())
    flush(session)
    for identifier, structure in new.items():
        found[identifier] = EnsuredStructure(structure.id, True)
    return found


# The functions other adapters (FHIR Patient for local identities) build on.
create_identity = vigilance_service.create_identity
get_identity = vigilance_service.get_identity
search_identities = vigilance_service.search_identities


def search_qualified_by_ins(
    session: Session,
    principal: Principal,
    structure_id: int,
    matricule: str,
    *,
    oid: str | None = None,
    limit: int = 20,
    offset: int = 0,
) -> schemas.IdentityPage:
    """The structure's QUAL identities holding this INS (merged ones too), each one audited.

    The INS is exposed only for a qualified identity, so only QUAL identities can be found by it
    (a RECUP identity stores its INS but never hands it out). ``oid`` restricts to one assigning
    authority (NIR ``…4.8`` or NIA ``…4.9``). One probe of ``ix_local_identities_ins``.
    """
    get_structure_or_404(session, principal, structure_id)
    total, rows = LocalIdentityRepository(session).find_qualified_by_ins(
        structure_id, "".join(matricule.split()).upper(), oid, limit, offset
    )
    for identity in rows:
        vigilance_service._audit(session, principal, identity, "identity.search", detail="by INS")
    if not rows:
        get_audit_service().record(
            session,
            actor=principal.actor,
            action="identity.search",
            resource=f"Structure/{structure_id}",
            purpose=PURPOSE,
            outcome="none",
            detail="by INS",
        )
    return schemas.IdentityPage(
        total=total, limit=limit, offset=offset, items=[to_schema(i) for i in rows]
    )
