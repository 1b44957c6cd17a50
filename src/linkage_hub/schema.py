"""Every table of the hub, for Alembic and the tests: importing this module registers them all."""

from linkage_hub import idempotency
from linkage_hub.audit import models as audit_models
from linkage_hub.auth import models as auth_models
from linkage_hub.cases import models as case_models
from linkage_hub.db import Base
from linkage_hub.meetings import models as meeting_models
from linkage_hub.notifications import models as notification_models
from linkage_hub.outbox import models as outbox_models
from linkage_hub.privacy import models as privacy_models
from linkage_hub.public import models as public_models
from linkage_hub.reconciliation import models as reconciliation_models
from linkage_hub.records import models as records_models
from linkage_hub.registry import models as registry_models

__all__ = [
    "Base",
    "audit_models",
    "auth_models",
    "case_models",
    "idempotency",
    "meeting_models",
    "notification_models",
    "outbox_models",
    "privacy_models",
    "public_models",
    "reconciliation_models",
    "records_models",
    "registry_models",
]
