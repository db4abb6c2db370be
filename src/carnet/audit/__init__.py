"""The audit trail: every access to a person's data, append-only and hash-chained."""

from functools import lru_cache

from carnet.audit.service import AuditEntry, AuditService, VerificationReport
from carnet.config import get_settings


@lru_cache
def get_audit_service() -> AuditService:
    settings = get_settings()
    return AuditService(settings.secret_key, settings.audit_chains)


__all__ = ["AuditEntry", "AuditService", "VerificationReport", "get_audit_service"]
