"""Settings, read from ``CARNET_*`` environment variables.

Outside development and test, placeholder secrets are refused at start-up: a production platform
must never run with a key that is published in this repository.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRET = "dev-only-insecure-secret-change-me"  # noqa: S105 - the placeholder we refuse


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CARNET_", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite:///var/carnet.db"
    data_dir: Path = Path("var")
    # Signs access tokens (HS256) and keys the audit chain; 32+ random bytes in production.
    secret_key: str = Field(default=PLACEHOLDER_SECRET, repr=False)
    issuer: str = "http://127.0.0.1:8000"
    access_token_ttl_seconds: int = Field(default=300, ge=30, le=3600)
    client_assertion_max_age_seconds: int = 300
    log_level: str = "INFO"
    log_json: bool = True
    # Matches the 40 worker threads (pool + overflow) so that no thread waits for a connection.
    db_pool_size: int = 20
    # Audit chains: appends are serialised per chain, so several chains let writers run in parallel.
    audit_chains: int = Field(default=16, ge=1, le=1024)

    # -- outgoing mail: an empty host in development means the embedded SMTP sink (carnet.mail)
    smtp_host: str = ""
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str = ""
    smtp_password: str = Field(default="", repr=False)
    smtp_starttls: bool = False
    mail_from: str = "Carnet <no-reply@carnet.localhost>"
    mail_sink_port: int = Field(default=8025, ge=0, le=65535)

    # -- the digital card (carnet.cards, carnet.apcv)
    card_qr_max_lifetime_seconds: int = Field(default=120, ge=10, le=120)
    card_pin_max_attempts: int = Field(default=3, ge=1, le=10)
    card_activation_ttl_seconds: int = Field(default=3600, ge=60)
    card_otp_ttl_seconds: int = Field(default=600, ge=60)
    card_otp_max_attempts: int = Field(default=5, ge=1, le=20)
    holder_token_ttl_seconds: int = Field(default=600, ge=30, le=3600)
    apcv_context_ttl_seconds: int = Field(default=600, ge=30, le=3600)
    # WebAuthn passkeys of the web app: the relying party is the site's domain, and assertions
    # must come from this origin (scheme://host[:port]).
    card_webauthn_rp_id: str = "localhost"
    card_webauthn_rp_name: str = "Carnet"
    card_webauthn_origin: str = "http://localhost:8000"
    card_webauthn_challenge_ttl_seconds: int = Field(default=300, ge=30, le=900)

    # -- the personal health space (carnet.space, carnet.access, carnet.documents, carnet.profile)
    # Opt-out: the space opens this many days after the information message (R1111-28: 6 weeks).
    space_objection_days: int = Field(default=42, ge=1)
    # A closed space is archived this long, then purged (R1111-36: 10 years).
    space_archive_days: int = Field(default=3653, ge=1)
    # An express deletion request is honoured within this delay (R1111-36: 3 months at most).
    space_deletion_max_days: int = Field(default=90, ge=0, le=92)
    # Break-glass and regulator access last this long once opened with a reason.
    space_emergency_access_hours: int = Field(default=12, ge=1, le=72)
    # A care relationship (started by reading the patient's card) lets the professional reach the
    # space this long after the last reading (R1111-46: "within effective care").
    space_care_relationship_days: int = Field(default=365, ge=1, le=3653)
    # Wraps each space's document key (AES key wrap). Base64 of 32 random bytes; empty in
    # development/test means a key derived from secret_key. Required in production.
    space_master_key: str = Field(default="", repr=False)
    # Document contents: "filesystem" (under blob_dir, default DATA_DIR/blobs) or "s3".
    blob_store: Literal["filesystem", "s3"] = "filesystem"
    blob_dir: Path | None = None
    s3_endpoint_url: str = ""
    s3_bucket: str = "carnet-documents"
    s3_region: str = "us-east-1"
    s3_access_key_id: str = ""
    s3_secret_access_key: str = Field(default="", repr=False)
    document_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    # R1111-53: a document hidden pending an announcement consultation: the patient is told after
    # 2 weeks, and it becomes visible by itself after 1 month.
    document_announcement_notice_days: int = Field(default=14, ge=1)
    document_announcement_visible_days: int = Field(default=30, ge=1)
    # Scheduled jobs run by the server every this many seconds (0: never; `carnet jobs run`).
    jobs_interval_seconds: int = Field(default=300, ge=0)

    # -- web portals (carnet.web): signed session cookie, idle and absolute lifetimes. Secure
    # cookies work on https and on http://localhost in browsers; set false only for plain-http
    # development on another host name.
    web_cookie_secure: bool = True
    web_session_idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    web_session_max_hours: int = Field(default=12, ge=1, le=72)
    # The node_modules directory holding @gouvfr/dsfr, htmx.org (and axe-core for the tests);
    # None: the one found walking up from the package, else ./node_modules.
    web_assets_dir: Path | None = None

    # -- professionals' sign-in (carnet.proauth): passkey enrolment invitations, and OpenID
    # Connect with an external issuer (Pro Santé Connect-like; off while the issuer is unset).
    pro_invite_ttl_hours: int = Field(default=72, ge=1, le=24 * 30)
    pro_oidc_issuer: str | None = None
    pro_oidc_client_id: str = ""
    pro_oidc_client_secret: str = Field(default="", repr=False)
    pro_oidc_scopes: str = "openid scope_all"
    # PSC publishes .well-known/wallet-openid-configuration; None: the standard location.
    pro_oidc_discovery_url: str | None = None
    # PSC handles acr "eidas1" only; None: no acr_values sent.
    pro_oidc_acr_values: str | None = None
    # None: {card_webauthn_origin}/pro/connexion/oidc/retour (the site's public origin).
    pro_oidc_redirect_uri: str | None = None

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        if self.env != "development" and (
            self.secret_key == PLACEHOLDER_SECRET or len(self.secret_key) < 32
        ):
            raise ValueError(
                "CARNET_SECRET_KEY must be set to a random value of at least 32 characters "
                "outside development (refusing the placeholder)"
            )
        if self.env == "production" and not self.space_master_key:
            raise ValueError(
                "CARNET_SPACE_MASTER_KEY must be set in production (base64 of 32 random bytes): "
                "it wraps every health space's document key"
            )
        return self

    @property
    def sqlalchemy_url(self) -> str:
        return normalise_database_url(self.database_url)


def normalise_database_url(url: str) -> str:
    """Accept the usual ``postgresql://`` spelling and pick the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


@lru_cache
def get_settings() -> Settings:
    return Settings()
