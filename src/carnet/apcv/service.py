"""Use cases of the apCV-like card reading: contexts, beneficiary reads, invoice signatures, the
holder's reading history (domain.md §4.4, docs/card.md).

A context is what the professional's software holds between reading the card and billing: the
card was verified once (``cards_service.verify_card_code``: signature, status, lifetime, secret
code, single use, delegation), the professional was found in the directory, and the context lists
the beneficiaries the presentation opens (person keys and an opaque per-context reference each).
Creating it takes each beneficiary's names and rank from what the code verification read
(``rights_service.household_at``: the rights and the register names, two statements; the hot
path); restoring it for one beneficiary reads the full register identity (through the
identity service, which audits the read) and the rights at the date of care, and records the
reading in the holder's history.

Identity reliability: an identity obtained through the card counts as qualified, dependants
included (RNIV 1 §4.3.4, domain.md §2.1): status QUAL, FR Core collection method ``AV`` and
validation mode ``AV`` ("application carte Vitale"), validated on the day the card was read.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Row
from sqlalchemy.orm import Session

from carnet.access.service import access_service
from carnet.apcv import schemas
from carnet.apcv.exceptions import BeneficiaryNotInContext, ContextExpired, ContextNotFound
from carnet.apcv.repository import ApcvRepository
from carnet.audit import AuditEntry, get_audit_service
from carnet.auth.principal import Principal
from carnet.cards.service import PresentedCard, cards_service
from carnet.directory.schemas import ActingProfessional
from carnet.directory.service import directory_service
from carnet.exceptions import Forbidden
from carnet.identity.schemas import InsIdentity
from carnet.identity.service import RegisterNames, register_names, register_service
from carnet.kit.card_qr import PURPOSE_PRESENTATION
from carnet.kit.daily_counts import DailyCounts
from carnet.kit.signing_keys import SigningKey
from carnet.rights.service import Dependant, Household, RightsView, rights_service

# Dates of care are French calendar dates.
CARE_TIMEZONE = ZoneInfo("Europe/Paris")
SIGNING_KEY_NAME = "apcv-invoice"
SIGNATURE_TYPE = "carnet-apcv-invoice+jws"
_CONTEXT_ID = re.compile(r"^[A-Za-z0-9_-]{43}$")
HISTORY_MAX_PAGE = 100


def care_date(now: datetime) -> date:
    return now.astimezone(CARE_TIMEZONE).date()


@dataclass(frozen=True, slots=True)
class _Beneficiary:
    ref: str
    person_id: int
    quality: str
    rank: int | None


def _find(row: Row[Any], ref: str) -> _Beneficiary:
    for item in row.beneficiaries:
        if item["ref"] == ref:
            return _Beneficiary(
                ref=item["ref"],
                person_id=int(item["person_id"]),
                quality=item["quality"],
                rank=item.get("rank"),
            )
    raise BeneficiaryNotInContext(
        f"no beneficiary {ref!r} in this context: use a ref from the context's beneficiaries"
    )


def _summary_from_rights(ref: str, quality: str, rights: RightsView) -> schemas.BeneficiarySummary:
    return schemas.BeneficiarySummary(
        ref=ref,
        quality=quality,
        rank=rights.rank,
        first_name=rights.first_names[0] if rights.first_names else "",
        first_names=list(rights.first_names),
        birth_name=rights.birth_name,
        used_name=rights.used_name,
        used_first_name=rights.used_first_name,
        sex=rights.sex,
        birth_date=rights.birth_date,
    )


def _summary_from_dependant(ref: str, dependant: Dependant) -> schemas.BeneficiarySummary:
    return schemas.BeneficiarySummary(
        ref=ref,
        quality="dependant",
        rank=dependant.rank,
        first_name=dependant.first_names[0] if dependant.first_names else "",
        first_names=list(dependant.first_names),
        birth_name=dependant.birth_name,
        used_name=dependant.used_name,
        used_first_name=None,
        sex=dependant.sex,
        birth_date=dependant.birth_date,
    )


def _summary_from_identity(
    ref: str, quality: str, identity: InsIdentity
) -> schemas.BeneficiarySummary:
    traits = identity.traits
    return schemas.BeneficiarySummary(
        ref=ref,
        quality=quality,
        rank=None,
        first_name=traits.first_names[0] if traits.first_names else "",
        first_names=traits.first_names,
        birth_name=traits.birth_name,
        used_name=identity.used_name,
        used_first_name=identity.used_first_name,
        sex=traits.sex,
        birth_date=traits.birth_date,
    )


def _professional_snapshot(acting: ActingProfessional) -> dict[str, Any]:
    return {
        "professional_id": acting.professional_id,
        "rpps": acting.rpps,
        "idnat_ps": acting.idnat_ps,
        "family_name": acting.family_name,
        "given_name": acting.given_name,
        "profession_code": acting.profession_code,
        "profession_label": acting.profession_label,
        "structure_name": acting.structure_name,
    }


def _first_of(names: RegisterNames | None) -> str | None:
    if names is None:
        return None
    return names.used_first_name or (names.first_names[0] if names.first_names else None)


def _household_summaries(household: Household) -> list[tuple[int, schemas.BeneficiarySummary]]:
    """The holder (rank of their own coverage that day, None when not covered) and their
    dependants, as the professional sees them; a holder gone from the register is left out."""
    out: list[tuple[int, schemas.BeneficiarySummary]] = []
    holder = household.person
    if holder is not None:
        ref = secrets.token_urlsafe(6)
        out.append(
            (
                household.person_id,
                schemas.BeneficiarySummary(
                    ref=ref,
                    quality="holder",
                    rank=household.rank,
                    first_name=holder.first_names[0] if holder.first_names else "",
                    first_names=list(holder.first_names),
                    birth_name=holder.birth_name,
                    used_name=holder.used_name,
                    used_first_name=holder.used_first_name,
                    sex=holder.sex,
                    birth_date=holder.birth_date,
                ),
            )
        )
    for dependant in household.dependants:
        ref = secrets.token_urlsafe(6)
        out.append((dependant.person_id, _summary_from_dependant(ref, dependant)))
    return out


def _names(identity: InsIdentity | None) -> tuple[str | None, str | None]:
    """(first name, last name) as a person is usually called: used names first."""
    if identity is None:
        return None, None
    first = identity.used_first_name or (
        identity.traits.first_names[0] if identity.traits.first_names else None
    )
    return first, identity.used_name or identity.traits.birth_name


def _audit(
    session: Session,
    principal: Principal,
    action: str,
    person_id: int | None,
    context_id: int,
    *,
    detail: str | None = None,
    outcome: str = "success",
) -> None:
    get_audit_service().record(
        session,
        actor=principal.actor,
        action=action,
        person_id=person_id,
        resource=f"ApcvContext/{context_id}",
        purpose="TREAT",
        outcome=outcome,
        detail=detail,
    )


class ApcvService:
    # -- 1. authenticate the card "in proximity" -------------------------------------------------

    def create_context(
        self,
        session: Session,
        principal: Principal,
        body: schemas.ContextCreate,
        *,
        now: datetime,
        ttl_seconds: int,
    ) -> schemas.ContextCreated:
        # The professional first: an unknown professional or an unbound client never gets to
        # spend the code's single use (nor a secret-code attempt). Kept a few seconds per client
        # (see ``directory.service``): the hot path of every reading.
        acting = directory_service.acting_professional(
            session, principal, body.professional, cached=True
        )
        presented = cards_service.verify_card_code(session, body.qr, now, PURPOSE_PRESENTATION)
        today = care_date(now)
        delegated = presented.delegation_id is not None
        professional = _professional_snapshot(acting)
        if presented.household is not None:
            # A normal presentation: the verification read the holder's coverage and dependants
            # with their names (one rights and one register statement): nothing more to read.
            summaries = _household_summaries(presented.household)
        else:
            summaries = self._delegated_summaries(session, principal, presented, today)
            # The holder's history names the delegate (whom the holder chose).
            delegate = register_names(session, (presented.presenter_person_id,)).get(
                presented.presenter_person_id
            )
            professional["delegate"] = {
                "first_name": _first_of(delegate),
                "last_name": (delegate.used_name or delegate.birth_name) if delegate else None,
            }
        entries: list[dict[str, Any]] = [
            {"ref": summary.ref, "person_id": person_id, "quality": summary.quality,
             "rank": summary.rank}
            for person_id, summary in summaries
        ]  # fmt: skip
        public_id = secrets.token_urlsafe(32)
        expires_at = now + timedelta(seconds=ttl_seconds)
        context_id = ApcvRepository(session).add_context(
            {
                "public_id": public_id,
                "client_id": principal.client_id,
                "card_id": presented.card_id,
                "card_number": presented.card_number,
                "person_id": presented.holder_person_id,
                "presenter_person_id": presented.presenter_person_id,
                "delegation_id": presented.delegation_id,
                "professional_id": acting.professional_id,
                "structure_id": acting.structure_id,
                "structure_identifier": acting.structure_identifier,
                "beneficiaries": entries,
                "professional": professional,
                "created_at": now,
                "expires_at": expires_at,
                "destroyed_at": None,
            }
        )
        detail = (
            f"card={presented.card_id} professional={acting.professional_id} "
            f"beneficiaries={len(entries)}"
        )
        if delegated:
            detail += (
                f" delegation={presented.delegation_id} delegate={presented.presenter_person_id}"
            )
        resource = f"ApcvContext/{context_id}"
        audit = [
            AuditEntry(
                principal.actor,
                "apcv.context.create",
                presented.holder_person_id,
                resource,
                "TREAT",
                detail=detail,
            )
        ]
        # The professional now sees each dependant's names and birth date: an access to each.
        audit += [
            AuditEntry(
                principal.actor,
                "apcv.context.beneficiary",
                entry["person_id"],
                resource,
                "TREAT",
                detail=f"quality={entry['quality']}",
            )
            for entry in entries
            if entry["person_id"] != presented.holder_person_id
        ]
        if delegated:
            audit.append(
                AuditEntry(
                    principal.actor,
                    "apcv.context.delegate",
                    presented.presenter_person_id,
                    resource,
                    "TREAT",
                    detail=f"delegation={presented.delegation_id} "
                    f"holder={presented.holder_person_id}",
                )
            )
        # One chain claim and one append for all of them.
        get_audit_service().record_many(session, audit)
        return schemas.ContextCreated(
            context_id=public_id,
            expires_at=expires_at,
            delegated=delegated,
            beneficiaries=[summary for _, summary in summaries],
        )

    @staticmethod
    def _delegated_summaries(
        session: Session, principal: Principal, presented: PresentedCard, today: date
    ) -> list[tuple[int, schemas.BeneficiarySummary]]:
        """The delegated beneficiary's summary: names and rank from the rights of the day, or
        from the register (audited read) when not covered."""
        out: list[tuple[int, schemas.BeneficiarySummary]] = []
        dependants: dict[int, Dependant] = {}
        if any(quality == "dependant" for _, quality in presented.beneficiaries):
            dependants = {
                d.person_id: d
                for d in rights_service.dependants_of(session, presented.holder_person_id, today)
            }
        for person_id, quality in presented.beneficiaries:
            ref = secrets.token_urlsafe(6)
            dependant = dependants.get(person_id)
            rights = (
                None
                if dependant is not None
                else rights_service.rights_at(session, person_id, today)
            )
            if dependant is not None:
                summary = _summary_from_dependant(ref, dependant)
            elif rights is not None:
                summary = _summary_from_rights(ref, quality, rights)
            else:
                identity = register_service.read_by_id(
                    session, principal, person_id, purpose="TREAT"
                )
                if identity is None:  # removed from the register meanwhile
                    continue
                summary = _summary_from_identity(ref, quality, identity)
            out.append((person_id, summary))
        return out

    # -- 2. restore the context for one beneficiary ----------------------------------------------

    def _open(
        self, repo: ApcvRepository, principal: Principal, public_id: str, now: datetime
    ) -> Row[Any]:
        row = repo.get_context(public_id) if _CONTEXT_ID.match(public_id) else None
        # Another client's context answers exactly like a missing one.
        if row is None or row.client_id != principal.client_id:
            raise ContextNotFound("no such apCV context for this software")
        if row.destroyed_at is not None or row.expires_at <= now:
            raise ContextExpired(
                "this apCV context has expired or was destroyed: read the card again"
            )
        return row

    def beneficiaries(
        self, session: Session, principal: Principal, public_id: str, *, now: datetime
    ) -> list[tuple[int, schemas.BeneficiarySummary]]:
        """The context's beneficiaries (person key, summary from the register's names) for a
        portal's choice; no new audit row: ``create_context`` recorded the access to each."""
        row = self._open(ApcvRepository(session), principal, public_id, now)
        names = register_names(session, (int(b["person_id"]) for b in row.beneficiaries))
        out: list[tuple[int, schemas.BeneficiarySummary]] = []
        for item in row.beneficiaries:
            found = names.get(int(item["person_id"]))
            if found is not None:
                summary = schemas.BeneficiarySummary(
                    ref=item["ref"], quality=item["quality"], rank=item.get("rank"),
                    first_name=found.first_names[0] if found.first_names else "",
                    first_names=list(found.first_names), birth_name=found.birth_name,
                    used_name=found.used_name, used_first_name=found.used_first_name,
                    sex="F" if found.sex == "F" else "M", birth_date=found.birth_date,
                )  # fmt: skip
                out.append((found.person_id, summary))
        return out

    @staticmethod
    def _identity(session: Session, principal: Principal, beneficiary: _Beneficiary) -> InsIdentity:
        """The beneficiary's register identity (the identity service audits the read)."""
        identity = register_service.read_by_id(
            session, principal, beneficiary.person_id, purpose="TREAT"
        )
        if identity is None:
            raise BeneficiaryNotInContext("this beneficiary is no longer in the register")
        return identity

    def read_beneficiary(
        self,
        session: Session,
        principal: Principal,
        public_id: str,
        ref: str,
        *,
        on: date | None,
        now: datetime,
    ) -> schemas.BeneficiaryRead:
        repo = ApcvRepository(session)
        row = self._open(repo, principal, public_id, now)
        beneficiary = _find(row, ref)
        identity = self._identity(session, principal, beneficiary)
        on = on or care_date(now)
        rights = rights_service.rights_at(session, beneficiary.person_id, on)
        professional = row.professional
        first, last = _names(identity)
        delegate = professional.get("delegate") or {}
        repo.add_reading(
            {
                "person_id": beneficiary.person_id,
                "holder_person_id": row.person_id,
                "presenter_person_id": row.presenter_person_id,
                "delegation_id": row.delegation_id,
                "card_id": row.card_id,
                "context_id": row.id,
                "client_id": row.client_id,
                "professional_id": row.professional_id,
                "rpps": professional.get("rpps"),
                "professional_last_name": professional.get("family_name"),
                "professional_first_name": professional.get("given_name"),
                "profession_code": professional.get("profession_code"),
                "profession_label": professional.get("profession_label"),
                "structure_name": professional.get("structure_name"),
                "structure_identifier": row.structure_identifier,
                "beneficiary_first_name": first,
                "beneficiary_last_name": last,
                "beneficiary_quality": beneficiary.quality,
                "presenter_first_name": delegate.get("first_name"),
                "presenter_last_name": delegate.get("last_name"),
                "read_at": now,
            }
        )
        _audit(
            session,
            principal,
            "apcv.beneficiary.read",
            beneficiary.person_id,
            row.id,
            detail=f"date={on.isoformat()} covered={rights is not None}"
            + (f" delegation={row.delegation_id}" if row.delegation_id is not None else ""),
        )
        # Reading the card starts (or extends) a care relationship with the health space.
        access_service.note_care_relationship(
            session,
            person_id=beneficiary.person_id,
            professional_id=row.professional_id,
            source="card_reading",
            now=now,
        )
        return schemas.BeneficiaryRead(
            context_id=public_id,
            beneficiary=beneficiary.ref,
            quality=beneficiary.quality,
            rank=rights.rank if rights is not None else beneficiary.rank,
            delegated=row.delegation_id is not None,
            identity=identity,
            reliability=schemas.IdentityReliability(validation_date=care_date(row.created_at)),
            rights=_coverage(rights, on),
            read_at=now,
        )

    # -- 3. sign an invoice ----------------------------------------------------------------------

    def sign(
        self,
        session: Session,
        principal: Principal,
        public_id: str,
        body: schemas.SignatureCreate,
        *,
        key: SigningKey,
        issuer: str,
        now: datetime,
    ) -> schemas.SignatureOut:
        repo = ApcvRepository(session)
        row = self._open(repo, principal, public_id, now)
        beneficiary = _find(row, body.beneficiary)
        identity = self._identity(session, principal, beneficiary)
        invoice_hash = body.invoice_hash.lower()
        signed_at = now.astimezone(UTC).replace(microsecond=0)
        ins = identity.ins
        claims: dict[str, Any] = {
            "iss": issuer,
            "iat": int(signed_at.timestamp()),
            "context_id": public_id,
            "card_number": row.card_number,
            "beneficiary_ins": {"matricule": ins.matricule, "oid": ins.oid},
            "quality": beneficiary.quality,
            "professional_rpps": row.professional.get("rpps"),
            "professional_idnat_ps": row.professional.get("idnat_ps"),
            "invoice_type": body.invoice_type,
            "invoice_hash": invoice_hash,
            "signed_at": signed_at.isoformat().replace("+00:00", "Z"),
        }
        if row.delegation_id is not None:
            claims["delegation_id"] = row.delegation_id
        if body.amount is not None:
            claims["amount"] = body.amount
        if body.summary is not None:
            claims["summary_sha256"] = hashlib.sha256(body.summary.encode()).hexdigest()
        payload = json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode()
        signature = key.sign_compact(payload, typ=SIGNATURE_TYPE)
        repo.add_signature(
            {
                "context_id": row.id,
                "person_id": beneficiary.person_id,
                "professional_id": row.professional_id,
                "invoice_type": body.invoice_type,
                "invoice_hash": invoice_hash,
                "signature": signature,
                "kid": key.kid,
                "signed_at": signed_at,
            }
        )
        _audit(
            session,
            principal,
            "apcv.invoice.sign",
            beneficiary.person_id,
            row.id,
            detail=f"type={body.invoice_type} hash={invoice_hash} kid={key.kid}",
        )
        return schemas.SignatureOut(signature=signature, kid=key.kid, signed_at=signed_at)

    # -- 4. destroy the context ------------------------------------------------------------------

    def destroy(
        self, session: Session, principal: Principal, public_id: str, *, now: datetime
    ) -> None:
        repo = ApcvRepository(session)
        row = self._open(repo, principal, public_id, now)
        repo.destroy_context(row.id, now)
        _audit(session, principal, "apcv.context.destroy", row.person_id, row.id)

    def purge_expired(self, session: Session, *, older_than: timedelta, now: datetime) -> int:
        """Delete contexts expired or destroyed more than ``older_than`` ago; readings stay."""
        return ApcvRepository(session).purge_contexts(now - older_than)

    # -- the holder's reading history ------------------------------------------------------------

    def reading_counts(
        self, session: Session, since: datetime, *, holder_person_id: int | None = None
    ) -> DailyCounts:
        """Beneficiaries read per day since ``since``, and in all; through one holder's card
        when given (figures only: the caller audits its access to that card)."""
        return ApcvRepository(session).readings_per_day(since, holder_person_id=holder_person_id)

    def readings(
        self,
        session: Session,
        principal: Principal,
        *,
        before: int | None,
        limit: int,
    ) -> schemas.ReadingPage:
        if principal.person_id is None:  # the Holder dependency grants only holder tokens
            raise Forbidden("this history belongs to a card holder", code="not_a_holder")
        me = principal.person_id
        # My dependants' readings too, whichever card showed them (a child attached to me may
        # have been read with the other parent's card): the persons attached to me today.
        dependants = rights_service.dependant_ids(session, me, care_date(datetime.now(UTC)))
        rows = ApcvRepository(session).readings_for_holder(
            me, dependant_ids=dependants, before_id=before, limit=limit + 1
        )
        page = rows[:limit]
        get_audit_service().record(
            session,
            actor=principal.actor,
            action="apcv.readings.read",
            person_id=me,
            resource="CardReading",
            detail=f"returned={len(page)}",
        )
        return schemas.ReadingPage(
            readings=[_reading(r, me) for r in page],
            next_before=page[-1].id if len(rows) > limit and page else None,
        )


def _reading(row: Row[Any], me: int) -> schemas.Reading:
    delegated = row.delegation_id is not None
    # A reading I presented with my card for someone else's card, through their delegation.
    as_delegate = delegated and row.presenter_person_id == me and row.holder_person_id != me
    return schemas.Reading(
        id=row.id,
        read_at=row.read_at,
        role="delegate" if as_delegate else "holder",
        delegated=delegated,
        beneficiary=schemas.ReadingPerson(
            first_name=row.beneficiary_first_name, last_name=row.beneficiary_last_name
        ),
        quality=row.beneficiary_quality,
        about_me=row.person_id == me,
        professional=schemas.ReadingProfessional(
            rpps=row.rpps,
            first_name=row.professional_first_name,
            last_name=row.professional_last_name,
            profession_code=row.profession_code,
            profession_label=row.profession_label,
        ),
        place=schemas.ReadingPlace(name=row.structure_name, identifier=row.structure_identifier),
        delegation=(
            schemas.ReadingDelegation(
                id=row.delegation_id,
                delegate=schemas.ReadingPerson(
                    first_name=row.presenter_first_name, last_name=row.presenter_last_name
                ),
            )
            if delegated
            else None
        ),
    )


def _coverage(rights: RightsView | None, on: date) -> schemas.Coverage:
    if rights is None:
        return schemas.Coverage(covered=False, date_of_care=on)
    return schemas.Coverage(
        covered=True,
        date_of_care=on,
        regime=rights.regime,
        regime_label=rights.regime_label,
        fund=rights.fund,
        centre=rights.centre,
        quality=rights.quality,
        quality_label=rights.quality_label,
        insured_matricule=rights.insured_matricule,
        start=rights.start,
        end=rights.end,
        validity_start=rights.validity_start,
        validity_end=rights.validity_end,
        situations=[
            schemas.Situation(
                code=s.code,
                label=s.label,
                start=s.start,
                end=s.end,
                ald_number=s.ald_number,
                participation=s.participation,
            )
            for s in rights.situations
        ],
    )


apcv_service = ApcvService()
