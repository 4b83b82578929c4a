"""The consent and subject-rights portal: application, identity, agencies, audit, shared UI."""

from portal.app import create_app

__all__ = ["create_app"]
