"""Request and response bodies of the card API (activation, holder session, holder routes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

ActivationState = Literal[
    "started", "email_sent", "email_confirmed", "proofed", "completed", "expired", "failed"
]


class IdentityClaim(BaseModel):
    """Who the person says they are: checked against the register, answered generically."""

    model_config = ConfigDict(extra="forbid")

    nir: str = Field(min_length=1, max_length=30, description="NIR or NIA, 15 characters")
    birth_date: str = Field(
        min_length=1, max_length=10, description="YYYY-MM-DD, as in the register"
    )
    email: str = Field(min_length=3, max_length=254)


class ActivationOut(BaseModel):
    activation_id: str = Field(description="Random, unguessable: the device keeps it")
    purpose: Literal["activate", "suspend"]
    state: ActivationState
    expires_at: datetime
    proofing_method: str | None = None


class EmailConfirmation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=r"^\d{6}$", description="The 6-digit code sent by e-mail")


class DeviceRegistration(BaseModel):
    """The wallet's public key and the PIN key it derived from the secret code (sent once)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["wallet"] = "wallet"
    public_key: dict[str, Any] = Field(
        description="Public JWK of the device key: kty EC, crv P-256, x, y (never d)"
    )
    pin_key: str = Field(
        min_length=40, max_length=64, description="Base64 of the 32-byte PIN key (scrypt output)"
    )


class PersonName(BaseModel):
    matricule: str = Field(description="The INS matricule (NIR or NIA)")
    kind: Literal["NIR", "NIA"]
    birth_name: str
    first_names: list[str]
    used_name: str | None = None
    used_first_name: str | None = None
    sex: Literal["M", "F"]
    birth_date: str


class ActivationCompleted(BaseModel):
    card_number: int
    key_id: str = Field(description="Base64url of the device key id, named in every code")
    status: str
    holder: PersonName


class SessionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(
        min_length=1, max_length=600, description="A card code with purpose 2 (holder session)"
    )


class HolderToken(BaseModel):
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    scope: str


class DeviceOut(BaseModel):
    kind: Literal["wallet", "passkey"]
    key_id: str
    status: Literal["active", "revoked"]
    created_at: datetime


class BeneficiaryOut(PersonName):
    quality: Literal["holder", "dependant"]


class CardView(BaseModel):
    card_number: int
    status: Literal["active", "suspended", "revoked", "locked"]
    created_at: datetime
    devices: list[DeviceOut]
    beneficiaries: list[BeneficiaryOut]


class CardStatusOut(BaseModel):
    card_number: int
    status: Literal["active", "suspended", "revoked", "locked"]


class DelegationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    delegate_nir: str = Field(min_length=1, max_length=30, description="The trusted person")
    beneficiary_nir: str = Field(
        min_length=1, max_length=30, description="The holder themself or one of their dependants"
    )
    starts_at: AwareDatetime | None = Field(default=None, description="Default: now")
    ends_at: AwareDatetime = Field(description="At most one year after the start")


class DelegationOut(BaseModel):
    id: int
    role: Literal["given", "received"]
    state: Literal["scheduled", "active", "expired", "revoked"]
    grantor: PersonName
    beneficiary: PersonName
    delegate: PersonName
    starts_at: datetime
    ends_at: datetime
    created_at: datetime
    revoked_at: datetime | None = None


class DelegationList(BaseModel):
    given: list[DelegationOut]
    received: list[DelegationOut]


class PasskeyRegistration(BaseModel):
    """The browser's ``PublicKeyCredential`` from ``navigator.credentials.create`` (JSON)."""

    model_config = ConfigDict(extra="forbid")

    credential: dict[str, Any]


class PasskeyCodeRequest(BaseModel):
    """An assertion (``navigator.credentials.get``, JSON) in exchange for a platform-signed code."""

    model_config = ConfigDict(extra="forbid")

    credential: dict[str, Any]
    purpose: Literal[1, 2] = Field(default=1, description="1 presentation, 2 holder session")
    delegation_id: int | None = Field(default=None, ge=1, le=2**63 - 1)


class PasskeyCode(BaseModel):
    code: str = Field(description="The QR text, signed by the platform for this passkey card")
    expires_at: datetime
