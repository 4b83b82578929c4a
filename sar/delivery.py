"""Signed, expiring, single-use download links bound to one bundle."""

from __future__ import annotations

import uuid

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from portal.config import Config
from portal.errors import Invalid

SALT = "sar-bundle-download"
DEFAULT_LINK_DAYS = 14


def link_max_age(config: Config) -> int:
    """How long a download link lives, in seconds (``extra["sar_link_days"]``)."""
    return int(config.extra.get("sar_link_days", DEFAULT_LINK_DAYS)) * 86400


def _serializer(config: Config) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(config.secret_key, salt=SALT)


def make_token(config: Config, bundle_id: uuid.UUID) -> str:
    """A token naming this bundle; its single use is recorded on the bundle."""
    return str(_serializer(config).dumps({"bundle": str(bundle_id)}))


def read_token(config: Config, token: str, *, max_age: int | None = None) -> uuid.UUID:
    """The bundle a token names, if it is genuine and not expired."""
    try:
        data = _serializer(config).loads(token, max_age=max_age or link_max_age(config))
        return uuid.UUID(str(data["bundle"]))
    except SignatureExpired as exc:
        raise Invalid("this link has expired", field="token") from exc
    except (BadSignature, KeyError, TypeError, ValueError) as exc:
        raise Invalid("this link is not valid", field="token") from exc
