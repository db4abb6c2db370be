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

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        if self.env != "development" and (
            self.secret_key == PLACEHOLDER_SECRET or len(self.secret_key) < 32
        ):
            raise ValueError(
                "CARNET_SECRET_KEY must be set to a random value of at least 32 characters "
                "outside development (refusing the placeholder)"
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
