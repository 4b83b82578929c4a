"""Imports every model module so that Base.metadata knows every table (Alembic, tests)."""

import consent.first_contact.models
import consent.models  # noqa: F401
import portal.audit
import portal.identity.models
import portal.outbox
import portal.reference.models  # noqa: F401
import sar.models  # noqa: F401
