"""The SAR API's part of the OpenAPI document (merged by portal.openapi)."""

from __future__ import annotations

from typing import Any

PATHS: dict[str, Any] = {}
SCHEMAS: dict[str, Any] = {}
