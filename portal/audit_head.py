"""Signed audit heads: anchor the hash chains outside the database.

The chains alone detect an edit, removal or reorder, but someone with write access to the
database could rewrite every entry and recompute every hash consistently. A head signed with
an Ed25519 key that never lives in the database, and kept somewhere the database's
administrators cannot write, closes that gap: ``verify_against`` checks the signature, walks
the chains, and requires each chain to still hold the signed hash at the signed sequence
number. See docs/audit.md.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import audit
from portal.audit import AuditEntry

FORMAT = "consent-portal/audit-head/v1"


class SigningKeyError(ValueError):
    """A key could not be read, or is not an Ed25519 key."""


def _b64decode(value: str) -> bytes:
    cleaned = "".join(value.split())
    padded = cleaned + "=" * (-len(cleaned) % 4)
    try:
        return base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SigningKeyError("not base64") from exc


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _key_material(value: str) -> bytes | str:
    """PEM text as given, a file's contents, or decoded base64 (raw key bytes)."""
    value = value.strip()
    if not value:
        raise SigningKeyError("the key is empty")
    if value.startswith("-----BEGIN"):
        return value
    path = Path(value)
    if path.is_file():
        try:
            text = path.read_bytes().decode("ascii", errors="replace").strip()
        except OSError as exc:
            raise SigningKeyError(f"cannot read the key file {value}: {exc.strerror}") from exc
        return text if text.startswith("-----BEGIN") else _b64decode(text)
    try:
        return _b64decode(value)
    except SigningKeyError:
        raise SigningKeyError("neither PEM text, a readable key file nor base64") from None


def load_private_key(value: str) -> Ed25519PrivateKey:
    """An Ed25519 private key from PEM text, a PEM file's path, or base64 of its 32 bytes."""
    material = _key_material(value)
    if isinstance(material, str):
        try:
            key = serialization.load_pem_private_key(material.encode(), password=None)
        except (ValueError, TypeError) as exc:
            raise SigningKeyError(f"not a readable unencrypted PEM private key: {exc}") \
                from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyError("the private key is not an Ed25519 key")
        return key
    if len(material) != 32:
        raise SigningKeyError("a base64 Ed25519 private key must decode to 32 bytes")
    return Ed25519PrivateKey.from_private_bytes(material)


def load_public_key(value: str) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM text, a PEM file's path, or base64 of its 32 bytes."""
    material = _key_material(value)
    if isinstance(material, str):
        try:
            if "PRIVATE KEY" in material:
                return load_private_key(material).public_key()
            key = serialization.load_pem_public_key(material.encode())
        except (ValueError, TypeError) as exc:
            raise SigningKeyError(f"not a readable PEM public key: {exc}") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise SigningKeyError("the public key is not an Ed25519 key")
        return key
    if len(material) != 32:
        raise SigningKeyError("a base64 Ed25519 public key must decode to 32 bytes")
    return Ed25519PublicKey.from_public_bytes(material)


def public_raw(key: Ed25519PublicKey) -> bytes:
    """The 32 raw bytes of a public key."""
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    """A short, stable name for a public key: the start of the SHA-256 of its bytes."""
    return hashlib.sha256(public_raw(key)).hexdigest()[:16]


def new_private_key_pem() -> tuple[bytes, str]:
    """A fresh key as unencrypted PKCS#8 PEM, and its public half in base64."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return pem, _b64(public_raw(key.public_key()))


def signing_payload(document: dict[str, Any]) -> bytes:
    """The bytes the signature covers: the canonical JSON of everything but the signature."""
    body = {k: v for k, v in document.items() if k != "signature"}
    return audit.canonical_json(body).encode("utf-8")


def sign_head(session: Session, key: Ed25519PrivateKey, *, now: dt.datetime) -> dict[str, Any]:
    """Each chain's head, with the time, the key and an Ed25519 signature, as a JSON object."""
    return sign_heads(audit.head(session), key, now=now)


def sign_heads(heads: dict[int, tuple[int, str]], key: Ed25519PrivateKey, *,
               now: dt.datetime) -> dict[str, Any]:
    """Given chain heads (chain: (seq, hash)) signed as ``sign_head`` signs the log's own."""
    public = key.public_key()
    document: dict[str, Any] = {
        "format": FORMAT,
        "signed_at": now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "key_id": key_id(public),
        "public_key": _b64(public_raw(public)),
        "chains": [{"chain": chain, "seq": seq, "hash": digest}
                   for chain, (seq, digest) in sorted(heads.items())],
    }
    document["signature"] = _b64(key.sign(signing_payload(document)))
    return document


@dataclass(frozen=True, slots=True)
class HeadCheck:
    """The outcome of verifying the log against a signed head."""

    ok: bool
    problem: str = ""
    count: int = 0
    chains: int = 0


def check_signature(document: Any, trusted: Ed25519PublicKey) -> str:
    """Empty if the head is well formed and signed by the trusted key; else the problem."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        return f"the head file is not a {FORMAT} document"
    chains = document.get("chains")
    if not isinstance(chains, list) or not all(
            isinstance(c, dict) and isinstance(c.get("chain"), int)
            and isinstance(c.get("seq"), int) and isinstance(c.get("hash"), str)
            for c in chains):
        return "the head file's chains are malformed"
    if document.get("key_id") != key_id(trusted):
        return (f"the head was signed by key {document.get('key_id')!r}, not by the trusted "
                f"key {key_id(trusted)!r}")
    try:
        signature = _b64decode(str(document.get("signature", "")))
        trusted.verify(signature, signing_payload(document))
    except (SigningKeyError, InvalidSignature):
        return "the head file's signature is not valid (forged or altered)"
    return ""


def signed_heads(document: dict[str, Any]) -> dict[int, tuple[int, str]]:
    """The (seq, hash) of each chain in a head whose signature was checked."""
    return {c["chain"]: (c["seq"], c["hash"]) for c in document["chains"]}


def verify_against(session: Session, document: Any, trusted: Ed25519PublicKey) -> HeadCheck:
    """Signature, then every chain's links, then the signed (seq, hash) of each chain."""
    problem = check_signature(document, trusted)
    if problem:
        return HeadCheck(False, problem)
    walked = audit.verify(session)
    if not walked.ok:
        return HeadCheck(False, walked.problem, walked.count, len(walked.heads))
    e = AuditEntry
    for signed in document["chains"]:
        chain, seq, digest = signed["chain"], signed["seq"], signed["hash"]
        stored = session.execute(select(e.hash).where(e.chain == chain, e.seq == seq)
                                 ).scalar_one_or_none()
        if stored is None:
            latest = walked.heads.get(chain, (0, ""))[0]
            return HeadCheck(False, f"chain {chain} was truncated: the signed head is at entry "
                                    f"{seq} but the chain ends at {latest}",
                             walked.count, len(walked.heads))
        if stored != digest:
            return HeadCheck(False, f"chain {chain} was rewritten: entry {seq} no longer has "
                                    "the signed hash", walked.count, len(walked.heads))
    return HeadCheck(True, "", walked.count, len(walked.heads))
