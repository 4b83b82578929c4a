"""Imports every model module so that Base.metadata knows every table (Alembic, tests)."""

import consent.models  # noqa: F401
import portal.identity.models
import portal.models
import portal.selfservice.models
import portal.staff.models  # noqa: F401
import sar.models  # noqa: F401
