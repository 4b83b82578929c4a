"""Invariant 9: secrets from the environment; production refuses unsafe settings."""

from __future__ import annotations

import gc
import logging
import runpy
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from portal.app import create_app
from portal.config import DEFAULT_SECRET, Config, ConfigError

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
GOOD_SECRET = "k" * 40


RECEIPT_KEY = '{"kty": "EC"}'
REDIS = "redis://127.0.0.1:6379/0"
SAFE = {"PORTAL_ENV": "production", "PORTAL_SECRET_KEY": GOOD_SECRET,
        "PORTAL_DATABASE_URL": PG, "PORTAL_RECEIPT_SIGNING_KEY": RECEIPT_KEY}


def test_reads_portal_variables() -> None:
    cfg = Config.from_env({"PORTAL_ENV": "production", "PORTAL_SECRET_KEY": GOOD_SECRET,
                           "PORTAL_RECEIPT_SIGNING_KEY": RECEIPT_KEY,
                           "PORTAL_DATABASE_URL": "postgresql://u@h/db",
                           "PORTAL_SURFACES": "api", "PORTAL_PERMIT_TTL_SECONDS": "30",
                           "PORTAL_DEBUG": "false", "PORTAL_REDIS_URL": REDIS,
                           "PORTAL_RATELIMIT_KEY_PREFIX": "fenshire"})
    assert cfg.is_production and cfg.surfaces == frozenset({"api"})
    assert cfg.rate_limit_storage() == REDIS and cfg.shared_rate_limits
    assert cfg.ratelimit_key_prefix == "fenshire"
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
    ({"PORTAL_SECRET_KEY": GOOD_SECRET, "PORTAL_DATABASE_URL": PG,
      "PORTAL_RECEIPT_SIGNING_KEY": RECEIPT_KEY}, "PORTAL_REDIS_URL"),
])
def test_production_refuses_to_start_unsafely(env: dict[str, str], message: str) -> None:
    cfg = Config.from_env({"PORTAL_ENV": "production", **env})
    with pytest.raises(ConfigError, match=message):
        create_app(cfg)


@pytest.mark.parametrize("env", [{"PORTAL_ENV": "staging"}, {"PORTAL_SURFACES": "admin"},
                                 {"PORTAL_DEBUG": "maybe"}, {"PORTAL_POOL_SIZE": "ten"},
                                 {"PORTAL_REDIS_URL": "127.0.0.1:6379"},
                                 {"PORTAL_RATELIMIT_STORAGE_URI": "memcached://h:11211"},
                                 {"PORTAL_RATELIMIT_KEY_PREFIX": "two words"}])
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


def test_production_accepts_memory_rate_limits_only_when_asked_and_warns(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # Given production with in-memory counters chosen explicitly (one process)
    cfg = Config.from_env({**SAFE, "PORTAL_RATELIMIT_STORAGE_URI": "memory://"},
                          instance_path=str(tmp_path))
    cfg.validate()
    assert not cfg.shared_rate_limits
    # When the app starts, Then it says loudly that the counters are per process
    with caplog.at_level(logging.WARNING, logger="portal.app"):
        app = create_app(cfg)
    assert any("memory" in r.getMessage() and r.levelno == logging.WARNING
               for r in caplog.records)
    assert app.config["RATELIMIT_STORAGE_URI"] == "memory://"


def test_redis_url_puts_rate_limits_in_redis(tmp_path: Path) -> None:
    cfg = Config.from_env({"PORTAL_REDIS_URL": REDIS, "PORTAL_RATELIMIT_KEY_PREFIX": "run42"},
                          instance_path=str(tmp_path))
    app = create_app(cfg)
    assert app.config["RATELIMIT_STORAGE_URI"] == REDIS
    assert app.config["RATELIMIT_KEY_PREFIX"] == "run42"
    # A Redis outage degrades to per-process counting instead of failing every sign-in.
    assert app.config["RATELIMIT_IN_MEMORY_FALLBACK_ENABLED"] is True
    explicit = Config.from_env({"PORTAL_REDIS_URL": REDIS,
                                "PORTAL_RATELIMIT_STORAGE_URI": "redis://other:6379/2"})
    assert explicit.rate_limit_storage() == "redis://other:6379/2"


def _gunicorn_hook(name: str = "on_starting") -> Any:
    conf = runpy.run_path(str(Path(__file__).resolve().parents[2] / "gunicorn.conf.py"))
    return conf[name]


def _server(workers: int) -> Any:
    return SimpleNamespace(cfg=SimpleNamespace(workers=workers))


def test_gunicorn_refuses_memory_rate_limits_with_several_workers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    on_starting = _gunicorn_hook()
    for name, value in {**SAFE, "PORTAL_RATELIMIT_STORAGE_URI": "memory://"}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit, match="PORTAL_REDIS_URL"):
        on_starting(_server(4))
    on_starting(_server(1))  # one worker counts correctly on its own
    monkeypatch.delenv("PORTAL_RATELIMIT_STORAGE_URI")
    monkeypatch.setenv("PORTAL_REDIS_URL", REDIS)
    on_starting(_server(4))
    monkeypatch.setenv("PORTAL_ENV", "development")
    monkeypatch.delenv("PORTAL_REDIS_URL")
    on_starting(_server(4))  # development keeps its in-memory default


def test_gunicorn_freezes_what_a_worker_built_at_start_up() -> None:
    """Long-lived start-up objects are kept out of every later collection."""
    post_worker_init = _gunicorn_hook("post_worker_init")
    try:
        gc.unfreeze()
        before = gc.get_freeze_count()
        post_worker_init(SimpleNamespace())
        assert gc.get_freeze_count() > before
    finally:
        gc.unfreeze()
