"""Every ORM model, imported so that ``Base.metadata`` is complete (Alembic, tests)."""

from carnet.access import models as access_models
from carnet.apcv import models as apcv_models
from carnet.audit.models import AuditChainHead, AuditEvent
from carnet.auth.models import OAuthClient, UsedClientAssertion
from carnet.cards import models as cards_models
from carnet.db import Base
from carnet.directory import models as directory_models
from carnet.documents import models as documents_models
from carnet.identity.models import InsHistory, Person
from carnet.jobs import models as jobs_models
from carnet.operators import models as operators_models
from carnet.proauth import models as proauth_models
from carnet.profile import models as profile_models
from carnet.rights import models as rights_models
from carnet.space import models as space_models
from carnet.vigilance import models as vigilance_models

__all__ = [
    "AuditChainHead",
    "AuditEvent",
    "Base",
    "InsHistory",
    "OAuthClient",
    "Person",
    "UsedClientAssertion",
    "access_models",
    "apcv_models",
    "cards_models",
    "directory_models",
    "documents_models",
    "jobs_models",
    "operators_models",
    "proauth_models",
    "profile_models",
    "rights_models",
    "space_models",
    "vigilance_models",
]
