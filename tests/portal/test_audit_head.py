"""Signed audit heads: a rewrite of a whole chain by someone with database access is caught."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result
from flask import Flask
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from portal import audit, audit_head
from portal.app import create_app
from portal.audit import Actor, AuditEntry
from portal.config import Config, ConfigError
from portal.database import get_database
from tests.conftest import lift_append_only, make_config

ACTOR = Actor("staff", "s-1", 1)


@pytest.fixture
def key_pem(tmp_path: Path) -> Path:
    """A fresh Ed25519 private key in a PEM file."""
    pem, _public = audit_head.new_private_key_pem()
    path = tmp_path / "audit-signing.pem"
    path.write_bytes(pem)
    return path


@pytest.fixture
def signing_app(db_url: str, tmp_path: Path, key_pem: Path) -> Iterator[Flask]:
    """An app configured with the signing key (as a path)."""
    application = create_app(make_config(db_url, tmp_path / "signing-instance",
                                         audit_signing_key=str(key_pem)))
    yield application
    get_database(application).engine.dispose()


@pytest.fixture
def logged(session: Session, backend: str) -> Session:
    """Twenty entries, committed one by one (spread over several chains on PostgreSQL)."""
    for i in range(20):
        audit.record(session, "test.act", ACTOR, object_type="thing", object_id=str(i),
                     details={"i": i})
        session.commit()
    if backend == "postgresql":
        assert len(audit.head(session)) > 1
    return session


def _rewrite_chain(session: Session, chain: int, seq: int, new_action: str) -> None:
    """Change one entry and recompute every hash after it, so that the chain still links."""
    rows = session.scalars(select(AuditEntry).where(AuditEntry.chain == chain)
                           .order_by(AuditEntry.seq)).all()
    prev = audit.GENESIS
    for row in rows:
        action = new_action if row.seq == seq else row.action
        digest = audit.entry_hash(prev, row.chain, row.seq, row.at, row.actor_type,
                                  row.actor_id, row.agency_id, action, row.subject_id,
                                  row.object_type, row.object_id, row.details)
        session.execute(text("UPDATE audit_entries SET action = :a, prev_hash = :p, "
                             "hash = :h WHERE id = :id"),
                        {"a": action, "p": prev, "h": digest, "id": row.id})
        prev = digest
    session.commit()
    session.expire_all()


def _sign(app: Flask, out: Path) -> dict[str, object]:
    result = app.test_cli_runner().invoke(args=["audit", "head", "--signed", "--output",
                                                str(out)])
    assert result.exit_code == 0, result.output
    document: dict[str, object] = json.loads(out.read_text())
    return document


def _verify(app: Flask, head: Path, *extra: str) -> Result:
    return app.test_cli_runner().invoke(args=["audit", "verify", "--against", str(head),
                                              *extra])


def _public_b64(key_pem: Path) -> str:
    key = audit_head.load_private_key(str(key_pem)).public_key()
    return base64.b64encode(audit_head.public_raw(key)).decode()


def test_signed_head_verifies_and_names_every_chain(signing_app: Flask, logged: Session,
                                                     key_pem: Path, tmp_path: Path) -> None:
    head_file = tmp_path / "head.json"
    document = _sign(signing_app, head_file)
    assert document["format"] == audit_head.FORMAT
    assert {(c["chain"], c["seq"], c["hash"]) for c in document["chains"]} == {  # type: ignore[attr-defined]
        (chain, seq, digest) for chain, (seq, digest) in audit.head(logged).items()}
    assert document["public_key"] == _public_b64(key_pem)
    ok = _verify(signing_app, head_file, "--public-key", _public_b64(key_pem))
    assert ok.exit_code == 0 and "matches the signed head" in ok.output, ok.output
    # Without --public-key the configured key's public half is the trusted one.
    assert _verify(signing_app, head_file).exit_code == 0


def test_entries_added_after_signing_still_verify(signing_app: Flask, logged: Session,
                                                  tmp_path: Path) -> None:
    head_file = tmp_path / "head.json"
    _sign(signing_app, head_file)
    for i in range(5):
        audit.record(logged, "test.later", ACTOR, object_id=str(i))
        logged.commit()
    assert _verify(signing_app, head_file).exit_code == 0


def test_rewrite_of_a_whole_chain_is_detected(signing_app: Flask, logged: Session,
                                              tmp_path: Path) -> None:
    # Given a signed head exported before someone with database access rewrote a chain,
    head_file = tmp_path / "head.json"
    _sign(signing_app, head_file)
    chain, (last, _digest) = next(iter(audit.head(logged).items()))
    lift_append_only(logged, "audit_entries")
    _rewrite_chain(logged, chain, 1, "forged")
    # the chain alone still verifies (every hash was recomputed),
    assert audit.verify(logged).ok
    plain = signing_app.test_cli_runner().invoke(args=["audit", "verify"])
    assert plain.exit_code == 0
    # but the signed head catches it.
    bad = _verify(signing_app, head_file)
    assert bad.exit_code == 1
    assert f"chain {chain} was rewritten: entry {last}" in bad.output


def test_truncation_below_the_signed_head_is_detected(signing_app: Flask, logged: Session,
                                                      tmp_path: Path) -> None:
    head_file = tmp_path / "head.json"
    _sign(signing_app, head_file)
    chain, (last, _digest) = next(iter(audit.head(logged).items()))
    lift_append_only(logged, "audit_entries")
    logged.execute(text("DELETE FROM audit_entries WHERE chain = :c AND seq >= :s"),
                   {"c": chain, "s": max(1, last - 1)})
    logged.commit()
    assert audit.verify(logged).ok  # dropping the newest entries leaves a consistent chain
    bad = _verify(signing_app, head_file)
    assert bad.exit_code == 1 and f"chain {chain} was truncated" in bad.output


def test_truncation_and_regrowth_is_detected(signing_app: Flask, logged: Session,
                                             tmp_path: Path) -> None:
    """Cutting a chain back and appending new entries past the signed seq is still caught."""
    head_file = tmp_path / "head.json"
    _sign(signing_app, head_file)
    lift_append_only(logged, "audit_entries")
    logged.execute(text("DELETE FROM audit_entries"))
    logged.commit()
    logged.info["audit_chains"] = 1
    for i in range(40):
        audit.record(logged, "test.replacement", ACTOR, object_id=str(i))
    logged.commit()
    assert audit.verify(logged).ok
    bad = _verify(signing_app, head_file)
    assert bad.exit_code == 1 and ("rewritten" in bad.output or "truncated" in bad.output)


def test_forged_head_files_are_refused(signing_app: Flask, logged: Session, tmp_path: Path,
                                       key_pem: Path) -> None:
    head_file = tmp_path / "head.json"
    document = _sign(signing_app, head_file)
    # An altered hash: the signature no longer covers it.
    altered = json.loads(json.dumps(document))
    altered["chains"][0]["seq"] -= 1
    forged = tmp_path / "altered.json"
    forged.write_text(json.dumps(altered))
    bad = _verify(signing_app, forged)
    assert bad.exit_code == 1 and "signature is not valid" in bad.output
    # A head signed (validly) by another key, e.g. by whoever rewrote the database.
    other = audit_head.load_private_key(audit_head.new_private_key_pem()[0].decode())
    with get_database(signing_app).sessionmaker() as s:
        impostor = audit_head.sign_head(s, other, now=audit.utcnow())
    forged.write_text(json.dumps(impostor))
    bad = _verify(signing_app, forged, "--public-key", _public_b64(key_pem))
    assert bad.exit_code == 1 and "not by the trusted key" in bad.output
    # A file that is not a head at all.
    forged.write_text(json.dumps({"chains": []}))
    assert _verify(signing_app, forged).exit_code == 1
    forged.write_text("not json")
    assert _verify(signing_app, forged).exit_code != 0


def test_signing_needs_a_key(app: Flask, logged: Session, tmp_path: Path,
                             key_pem: Path) -> None:
    runner = app.test_cli_runner()
    missing = runner.invoke(args=["audit", "head", "--signed"])
    assert missing.exit_code != 0 and "PORTAL_AUDIT_SIGNING_KEY" in missing.output
    # --key stands in for the configuration; the head goes to stdout by default.
    signed = runner.invoke(args=["audit", "head", "--signed", "--key", str(key_pem)])
    assert signed.exit_code == 0 and json.loads(signed.output)["format"] == audit_head.FORMAT
    head_file = tmp_path / "head.json"
    head_file.write_text(signed.output)
    no_trust = runner.invoke(args=["audit", "verify", "--against", str(head_file)])
    assert no_trust.exit_code != 0 and "--public-key" in no_trust.output
    ok = runner.invoke(args=["audit", "verify", "--against", str(head_file),
                             "--public-key", str(key_pem)])
    assert ok.exit_code == 0, ok.output


def test_new_signing_key_command(app: Flask, tmp_path: Path) -> None:
    out = tmp_path / "new.pem"
    result = app.test_cli_runner().invoke(args=["audit", "new-signing-key", "--output",
                                                str(out)])
    assert result.exit_code == 0, result.output
    assert out.stat().st_mode & 0o077 == 0
    public = result.output.strip().splitlines()[-1]
    assert _public_b64(out) == public
    again = app.test_cli_runner().invoke(args=["audit", "new-signing-key", "--output",
                                               str(out)])
    assert again.exit_code != 0 and "refusing to overwrite" in again.output


def test_keys_load_from_pem_path_pem_text_and_base64(key_pem: Path) -> None:
    from_path = audit_head.load_private_key(str(key_pem))
    from_text = audit_head.load_private_key(key_pem.read_text())
    raw = from_path.private_bytes_raw()
    from_b64 = audit_head.load_private_key(base64.b64encode(raw).decode())
    ids = {audit_head.key_id(k.public_key()) for k in (from_path, from_text, from_b64)}
    assert len(ids) == 1
    public = audit_head.load_public_key(_public_b64(key_pem))
    assert audit_head.key_id(public) in ids


@pytest.mark.parametrize("value", ["not a key", base64.b64encode(b"short").decode(),
                                   "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
                                   "/nonexistent/key.pem"])
def test_malformed_signing_key_is_refused_at_start(value: str) -> None:
    with pytest.raises(ConfigError, match="PORTAL_AUDIT_SIGNING_KEY"):
        Config.from_env({"PORTAL_AUDIT_SIGNING_KEY": value}).validate()


def test_a_non_ed25519_key_is_refused(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    path = tmp_path / "ec.pem"
    path.write_bytes(pem)
    with pytest.raises(ConfigError, match="not an Ed25519 key"):
        Config.from_env({"PORTAL_AUDIT_SIGNING_KEY": str(path)}).validate()


def test_production_may_run_without_a_signing_key(key_pem: Path) -> None:
    """Heads are best signed on another host, so the web servers need not hold the key."""
    env = {"PORTAL_ENV": "production", "PORTAL_SECRET_KEY": "s" * 40,
           "PORTAL_DATABASE_URL": "postgresql://db/portal",
           "PORTAL_RECEIPT_SIGNING_KEY": '{"kty": "EC"}',
           "PORTAL_REDIS_URL": "redis://127.0.0.1:6379/0"}
    Config.from_env(env).validate()
    Config.from_env({**env, "PORTAL_AUDIT_SIGNING_KEY": str(key_pem)}).validate()
