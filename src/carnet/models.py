"""Every ORM model, imported so that ``Base.metadata`` is complete (Alembic, tests)."""

from carnet.audit.models import AuditChainHead, AuditEvent
from carnet.auth.models import OAuthClient, UsedClientAssertion
from carnet.db import Base
from carnet.identity.models import InsHistory, Person
from carnet.vigilance import models as vigilance_models

__all__ = [
    "AuditChainHead",
    "AuditEvent",
    "Base",
    "InsHistory",
    "OAuthClient",
    "Person",
    "UsedClientAssertion",
    "vigilance_models",
]
