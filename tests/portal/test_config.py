"""Invariant 9: secrets from the environment; production refuses unsafe settings."""

from __future__ import annotations

import pytest

from portal import create_app
from portal.config import DEFAULT_SECRET, Config, ConfigError

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
GOOD_SECRET = "k" * 40


RECEIPT_KEY = '{"kty": "EC"}'


def test_reads_portal_variables() -> None:
    cfg = Config.from_env({"PORTAL_ENV": "production", "PORTAL_SECRET_KEY": GOOD_SECRET,
                           "PORTAL_RECEIPT_SIGNING_KEY": RECEIPT_KEY,
                           "PORTAL_DATABASE_URL": "postgresql://u@h/db",
                           "PORTAL_SURFACES": "api", "PORTAL_PERMIT_TTL_SECONDS": "30",
                           "PORTAL_DEBUG": "false"})
    assert cfg.is_production and cfg.surfaces == frozenset({"api"})
    assert cfg.permit_ttl_seconds == 30
    assert cfg.resolved_database_url() == "postgresql+psycopg://u@h/db"
    cfg.validate()
    with pytest.raises(AttributeError):
        cfg.debug = True  # type: ignore[misc]


@pytest.mark.parametrize(("env", "message"), [
    ({"PORTAL_SECRET_KEY": DEFAULT_SECRET, "PORTAL_DATABASE_URL": PG}, "SECRET_KEY"),
    ({"PORTAL_DATABASE_URL": PG}, "SECRET_KEY"),
    ({"PORTAL_SECRET_KEY": "short", "PORTAL_DATABASE_URL": PG}, "SECRET_KEY"),
    ({"PORTAL_SECRET_KEY": GOOD_SECRET}, "SQLite"),
    ({"PORTAL_SECRET_KEY": GOOD_SECRET, "PORTAL_DATABASE_URL": "sqlite:////tmp/x.db"},
     "SQLite"),
    ({"PORTAL_SECRET_KEY": GOOD_SECRET, "PORTAL_DATABASE_URL": PG, "PORTAL_DEBUG": "1"},
     "DEBUG"),
    ({"PORTAL_SECRET_KEY": GOOD_SECRET, "PORTAL_DATABASE_URL": PG}, "RECEIPT_SIGNING_KEY"),
])
def test_production_refuses_to_start_unsafely(env: dict[str, str], message: str) -> None:
    cfg = Config.from_env({"PORTAL_ENV": "production", **env})
    with pytest.raises(ConfigError, match=message):
        create_app(cfg)


@pytest.mark.parametrize("env", [{"PORTAL_ENV": "staging"}, {"PORTAL_SURFACES": "admin"},
                                 {"PORTAL_DEBUG": "maybe"}, {"PORTAL_POOL_SIZE": "ten"}])
def test_malformed_settings_are_refused(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        Config.from_env(env).validate()


def test_development_may_use_defaults(tmp_path: object) -> None:
    cfg = Config.from_env({}, instance_path=str(tmp_path))
    cfg.validate()
    assert cfg.resolved_database_url().startswith("sqlite:///")


def test_surfaces_limit_blueprints(tmp_path: object) -> None:
    api_only = create_app(Config.from_env({"PORTAL_SURFACES": "api"},
                                          instance_path=str(tmp_path)))
    endpoints = {r.endpoint for r in api_only.url_map.iter_rules()}
    assert "consent_api.check" in endpoints and "public.index" not in endpoints
    assert "public.healthz" in endpoints
    public_only = create_app(Config.from_env({"PORTAL_SURFACES": "public"},
                                             instance_path=str(tmp_path)))
    assert not any(r.rule.startswith("/api/") for r in public_only.url_map.iter_rules())
