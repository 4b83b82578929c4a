"""Typed, frozen configuration read from ``PORTAL_*`` environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

DEFAULT_SECRET = "dev-only-insecure-secret-change-me"  # noqa: S105 - refused in production

SURFACES = frozenset({"public", "staff", "api"})
# Rate-limit storages we support and test (the limits package knows more).
STORAGE_SCHEMES = frozenset({"memory", "redis", "rediss", "redis+sentinel", "redis+cluster",
                             "redis+unix"})


class ConfigError(RuntimeError):
    """The configuration is unsafe or malformed; the application must not start."""


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"not a boolean: {value!r}")


@dataclass(frozen=True, slots=True)
class Config:
    """Everything the application reads from its environment, checked once at start."""

    env: str = "development"  # development | production | testing
    secret_key: str = DEFAULT_SECRET
    database_url: str = ""  # empty: SQLite in the instance folder
    instance_path: str = ""
    debug: bool = False
    redis_url: str = ""  # empty: rate limits in memory
    # Where Flask-Limiter keeps its counters; empty: PORTAL_REDIS_URL, else memory://.
    ratelimit_storage_uri: str = ""
    # Prepended to every rate-limit key, so that several deployments (or test runs) can share
    # one Redis without counting each other's requests.
    ratelimit_key_prefix: str = "portal"
    surfaces: frozenset[str] = SURFACES
    partnership_name: str = "Fenshire Community Safety Partnership"
    default_locale: str = "en"
    locales: tuple[str, ...] = ("en", "cy", "pl")
    # How long a permit may be relied on; withdrawals take effect on the next check anyway.
    permit_ttl_seconds: int = 60
    # A check that cannot finish in this time answers deny.
    check_timeout_ms: int = 2000
    sqlite_synchronous: str = "FULL"
    pool_size: int = 10
    log_level: str = "INFO"
    # Mail: with no SMTP host, messages are written to <instance>/outbox.
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_tls: str = "starttls"  # starttls | ssl | none
    smtp_user: str = ""
    smtp_password: str = ""
    mail_from: str = "no-reply@consent-portal.example"
    # Days the outbox keeps a sent (or given-up) message's address and subject; its delivery
    # record (kind, attempts, sent-at, Message-ID) stays.
    mail_retention_days: int = 30
    # Days a closed SAR's case file (what was sent, the letter, the evidence of notices, the
    # search records) is kept: the partnership's complaint period.
    sar_case_retention_days: int = 400
    # Days after a SAR closes before the raw supplies (agencies' record texts and files,
    # unreleased drafts, ID documents) are purged.
    sar_raw_grace_days: int = 14
    # Parallel audit hash chains on PostgreSQL (SQLite always uses one).
    audit_chains: int = 8
    # Rate limits (sign-in, codes); off only in tests that are not about them.
    rate_limits: bool = True
    # How many reverse proxies in front of the app set X-Forwarded-* (0: trust none).
    proxy_hops: int = 0
    # A private EC P-256 JWK (JSON) that signs consent receipts; generated in development.
    receipt_signing_key: str = ""
    # An Ed25519 private key (PEM text, a PEM file's path, or base64 of its 32 bytes) that
    # signs exported audit heads. Optional: best kept only on the host that signs heads.
    audit_signing_key: str = ""
    # Where people are sent to see the service (links in emails and receipts).
    public_url: str = "http://127.0.0.1:5000"
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_production(self) -> bool:
        """True when running with production safety checks."""
        return self.env == "production"

    def rate_limit_storage(self) -> str:
        """The storage URI for rate-limit counters: explicit, else Redis, else memory."""
        return self.ratelimit_storage_uri or self.redis_url or "memory://"

    @property
    def shared_rate_limits(self) -> bool:
        """True when every process and instance counts in one place (not process memory)."""
        return not self.rate_limit_storage().startswith("memory://")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Config:
        """Build the configuration from ``PORTAL_*`` variables, then apply overrides."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        simple = {
            "PORTAL_ENV": "env",
            "PORTAL_SECRET_KEY": "secret_key",
            "PORTAL_DATABASE_URL": "database_url",
            "PORTAL_INSTANCE_PATH": "instance_path",
            "PORTAL_REDIS_URL": "redis_url",
            "PORTAL_RATELIMIT_STORAGE_URI": "ratelimit_storage_uri",
            "PORTAL_RATELIMIT_KEY_PREFIX": "ratelimit_key_prefix",
            "PORTAL_PARTNERSHIP_NAME": "partnership_name",
            "PORTAL_DEFAULT_LOCALE": "default_locale",
            "PORTAL_SQLITE_SYNCHRONOUS": "sqlite_synchronous",
            "PORTAL_LOG_LEVEL": "log_level",
            "PORTAL_SMTP_HOST": "smtp_host",
            "PORTAL_SMTP_TLS": "smtp_tls",
            "PORTAL_SMTP_USER": "smtp_user",
            "PORTAL_SMTP_PASSWORD": "smtp_password",
            "PORTAL_MAIL_FROM": "mail_from",
            "PORTAL_PUBLIC_URL": "public_url",
            "PORTAL_RECEIPT_SIGNING_KEY": "receipt_signing_key",
            "PORTAL_AUDIT_SIGNING_KEY": "audit_signing_key",
        }
        for var, name in simple.items():
            if var in env:
                values[name] = env[var]
        for var, name in {
            "PORTAL_PERMIT_TTL_SECONDS": "permit_ttl_seconds",
            "PORTAL_CHECK_TIMEOUT_MS": "check_timeout_ms",
            "PORTAL_POOL_SIZE": "pool_size",
            "PORTAL_AUDIT_CHAINS": "audit_chains",
            "PORTAL_SMTP_PORT": "smtp_port",
            "PORTAL_PROXY_HOPS": "proxy_hops",
            "PORTAL_MAIL_RETENTION_DAYS": "mail_retention_days",
            "PORTAL_SAR_CASE_RETENTION_DAYS": "sar_case_retention_days",
            "PORTAL_SAR_RAW_GRACE_DAYS": "sar_raw_grace_days",
        }.items():
            if var in env:
                try:
                    values[name] = int(env[var])
                except ValueError as exc:
                    raise ConfigError(f"{var} must be a whole number") from exc
        if "PORTAL_RATE_LIMITS" in env:
            values["rate_limits"] = _bool(env["PORTAL_RATE_LIMITS"])
        if "PORTAL_DEBUG" in env:
            values["debug"] = _bool(env["PORTAL_DEBUG"])
        if "PORTAL_SURFACES" in env:
            parts = frozenset(p.strip() for p in env["PORTAL_SURFACES"].split(",") if p.strip())
            if not parts or not parts <= SURFACES:
                raise ConfigError(f"PORTAL_SURFACES must be a subset of {sorted(SURFACES)}")
            values["surfaces"] = parts
        if "PORTAL_LOCALES" in env:
            values["locales"] = tuple(p.strip() for p in env["PORTAL_LOCALES"].split(","))
        values.update(overrides)
        return replace(cls(), **values)

    def validate(self) -> None:
        """Refuse unsafe settings (invariant 9) and malformed ones."""
        if self.env not in {"development", "production", "testing"}:
            raise ConfigError("PORTAL_ENV must be development, production or testing")
        if self.sqlite_synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ConfigError("PORTAL_SQLITE_SYNCHRONOUS must be OFF, NORMAL, FULL or EXTRA")
        if self.smtp_tls not in {"starttls", "ssl", "none"}:
            raise ConfigError("PORTAL_SMTP_TLS must be starttls, ssl or none")
        if not 1 <= self.audit_chains <= 64:
            raise ConfigError("PORTAL_AUDIT_CHAINS must be from 1 to 64")
        if self.permit_ttl_seconds < 0 or self.check_timeout_ms <= 0:
            raise ConfigError("time limits must be positive")
        if min(self.mail_retention_days, self.sar_case_retention_days,
               self.sar_raw_grace_days) < 0:
            raise ConfigError("retention periods must be zero or more days")
        if self.sar_case_retention_days < self.sar_raw_grace_days:
            raise ConfigError("PORTAL_SAR_CASE_RETENTION_DAYS must not be shorter than "
                              "PORTAL_SAR_RAW_GRACE_DAYS")
        scheme = self.rate_limit_storage().split("://", 1)[0]
        if "://" not in self.rate_limit_storage() or scheme not in STORAGE_SCHEMES:
            raise ConfigError("PORTAL_RATELIMIT_STORAGE_URI / PORTAL_REDIS_URL must be a "
                              f"URI with one of the schemes {sorted(STORAGE_SCHEMES)}")
        if not self.ratelimit_key_prefix or any(c.isspace() for c in self.ratelimit_key_prefix):
            raise ConfigError("PORTAL_RATELIMIT_KEY_PREFIX must be a word without spaces")
        if self.audit_signing_key:
            # Here, not at the top: the audit modules sit on the database, which reads this.
            from portal.audit_head import SigningKeyError, load_private_key

            try:
                load_private_key(self.audit_signing_key)
            except SigningKeyError as exc:
                raise ConfigError(f"PORTAL_AUDIT_SIGNING_KEY is not an Ed25519 private key: "
                                  f"{exc}") from exc
        if not self.is_production:
            return
        problems = []
        if self.secret_key == DEFAULT_SECRET or len(self.secret_key) < 32:
            problems.append("PORTAL_SECRET_KEY is the default or shorter than 32 characters")
        if self.debug:
            problems.append("PORTAL_DEBUG is on")
        if not self.database_url or self.database_url.startswith("sqlite"):
            problems.append("PORTAL_DATABASE_URL is SQLite (use PostgreSQL in production)")
        if not self.receipt_signing_key:
            problems.append("PORTAL_RECEIPT_SIGNING_KEY is not set")
        if self.rate_limits and not self.shared_rate_limits and not self.ratelimit_storage_uri:
            # Memory counters are per process: with several workers or instances every limit
            # is multiplied by their number. Running that way must be a visible choice.
            problems.append("rate limits would be counted in process memory: set "
                            "PORTAL_REDIS_URL (or PORTAL_RATELIMIT_STORAGE_URI=memory:// "
                            "for a single-process deployment)")
        if problems:
            raise ConfigError("refusing to start in production: " + "; ".join(problems))

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to SQLite in the instance folder."""
        if self.database_url:
            url = self.database_url
            if url.startswith("postgresql://") or url.startswith("postgres://"):
                # psycopg 3 is the driver we ship; plain URLs would pick psycopg2.
                url = "postgresql+psycopg://" + url.split("://", 1)[1]
            return url
        return "sqlite:///" + str(Path(self.instance_path) / "portal.sqlite3")
