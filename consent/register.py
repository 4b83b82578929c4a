"""Export the partnership's whole register in open formats, and import it into an empty one.

The format is documented in docs/register-format.md: a folder with a manifest, one JSON Lines
and one CSV file per table (rows exactly as stored, so the audit chain still verifies after an
import), and the consent events as an HL7 FHIR R5 ``Consent`` Bundle.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Boolean, Date, DateTime, Integer, String, Table, func, insert, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator, Uuid

from consent import operations as consent_ops
from portal import audit, audit_head, csvfile
from portal.database import Base, utcnow
from portal.errors import Conflict, Invalid

FORMAT = "consent-portal-register"
FORMAT_VERSION = 1
# The register, parents before children. Sign-in secrets (accounts, staff, API key hashes,
# recovery and claim codes) are not part of it: a new system issues its own.
TABLES = (
    "agencies", "data_categories", "purposes", "sharing_agreements", "agreement_categories",
    "notices", "notice_versions", "notice_texts", "notice_version_agreements", "subjects",
    "holdings", "holding_categories", "consent_events", "check_decisions", "audit_entries",
)
# The export's audit head, signed at the moment of the export, when a signing key is given.
HEAD_FILE = "audit-head.signed.json"
_HASH = frozenset("0123456789abcdef")
FHIR_STATUS = {"given": "active", "renewed": "active", "refused": "inactive",
               "withdrawn": "inactive", "expired": "inactive"}


def _table(name: str) -> Table:
    return Base.metadata.tables[name]


def _order(table: Table) -> list[Any]:
    return list(table.primary_key.columns)


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _rows(session: Session, table: Table) -> Iterator[dict[str, Any]]:
    for row in session.execute(select(table).order_by(*_order(table))).mappings():
        yield {key: _plain(value) for key, value in row.items()}


def _fhir_consent(event: dict[str, Any], refs: dict[str, list[str]]) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Consent",
        "id": event["public_id"],
        "status": FHIR_STATUS.get(event["event_type"], "inactive"),
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0",
                                  "display": "Patient Consent"}]}],
        "subject": {"identifier": {"system": "urn:consent-portal:subject",
                                   "value": event["subject_id"]}},
        "date": event["occurred_at"][:10],
        "decision": "permit" if event["event_type"] in {"given", "renewed"} else "deny",
        "sourceReference": [{"identifier": {"system": "urn:consent-portal:notice-version",
                                            "value": str(event["notice_version_id"])}}],
        "extension": [
            {"url": "urn:consent-portal:event-type", "valueCode": event["event_type"]},
            {"url": "urn:consent-portal:method", "valueCode": event["method"]},
            {"url": "urn:consent-portal:expressed-by", "valueCode": event["expressed_by"]},
            {"url": "urn:consent-portal:language", "valueCode": event["language"]},
            {"url": "urn:consent-portal:recorded-at", "valueDateTime": event["recorded_at"]},
        ],
    }
    if event["valid_until"]:
        resource["period"] = {"start": event["occurred_at"], "end": event["valid_until"]}
    if event["agency_id"] is not None:
        resource["grantee"] = [{"identifier": {"system": "urn:consent-portal:agency",
                                               "value": str(event["agency_id"])}}]
    if event["guardian_name"]:
        resource["grantor"] = [{"display": f"{event['guardian_name']} "
                                           f"({event['guardian_relationship']})"}]
    agreements = refs.get(str(event["notice_version_id"]), [])
    if agreements:
        resource["regulatoryBasis"] = [{"text": ref} for ref in agreements]
    return resource


def export_register(session: Session, folder: Path, *,
                    signing_key: Ed25519PrivateKey | None = None) -> dict[str, Any]:
    """Write the whole register to a folder (created if need be) and return its manifest;
    with a signing key, also the signed head of the audit entries exported."""
    folder.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    # The heads are those of the rows written, not of the log a moment later.
    heads: dict[int, tuple[int, str]] = {}
    for name in TABLES:
        table = _table(name)
        columns = [c.name for c in table.columns]
        count = 0
        with (folder / f"{name}.jsonl").open("w", encoding="utf-8") as jl, \
                (folder / f"{name}.csv").open("w", encoding="utf-8", newline="") as cf:
            writer = csvfile.Writer(cf, columns)
            for row in _rows(session, table):
                jl.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
                writer.row(row)
                count += 1
                if name == "audit_entries" and row["seq"] > heads.get(row["chain"], (0, ""))[0]:
                    heads[row["chain"]] = (row["seq"], row["hash"])
        counts[name] = count
    refs: dict[str, list[str]] = {}
    agreements = {r["id"]: r["reference"] for r in _rows(session, _table("sharing_agreements"))}
    for link in _rows(session, _table("notice_version_agreements")):
        named = refs.setdefault(str(link["notice_version_id"]), [])
        # A notice version covers every version of an agreement it covered: name it once.
        if agreements[link["agreement_id"]] not in named:
            named.append(agreements[link["agreement_id"]])
    bundle = {"resourceType": "Bundle", "type": "collection",
              "timestamp": utcnow().isoformat() + "Z",
              "entry": [{"fullUrl": f"urn:uuid:{e['public_id']}",
                         "resource": _fhir_consent(e, refs)}
                        for e in _rows(session, _table("consent_events"))]}
    (folder / "consents.fhir.json").write_text(json.dumps(bundle, ensure_ascii=False, indent=1),
                                               encoding="utf-8")
    manifest = {"format": FORMAT, "version": FORMAT_VERSION,
                "exported_at": utcnow().isoformat() + "Z", "tables": counts,
                "audit_heads": {str(chain): {"seq": seq, "hash": digest}
                                for chain, (seq, digest) in sorted(heads.items())}}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    if signing_key is not None:
        signed = audit_head.sign_heads(heads, signing_key, now=utcnow())
        (folder / HEAD_FILE).write_text(json.dumps(signed, indent=2, sort_keys=True) + "\n",
                                        encoding="utf-8")
    return manifest


def _value(kind: Any, value: Any) -> Any:
    """One stored value from its JSON form, or raise ValueError/TypeError."""
    if isinstance(kind, DateTime | Date | Uuid) and not isinstance(value, str):
        raise TypeError("not text")
    if isinstance(kind, DateTime):
        return dt.datetime.fromisoformat(value)
    if isinstance(kind, Date):
        return dt.date.fromisoformat(value)
    if isinstance(kind, Uuid):
        return uuid.UUID(value)
    if isinstance(kind, Boolean) and not isinstance(value, bool):
        raise TypeError("not true or false")
    if isinstance(kind, Integer) and (isinstance(value, bool) or not isinstance(value, int)):
        raise TypeError("not a whole number")
    if isinstance(kind, String) and not isinstance(value, str):
        raise TypeError("not text")
    return value


def _parse(table: Table, row: Any, where: str) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise Invalid(f"{where}: a row must be a JSON object")
    unknown = sorted(set(row) - {c.name for c in table.columns})
    if unknown:
        raise Invalid(f"{where}: {table.name} has no column {unknown[0]!r}")
    out: dict[str, Any] = {}
    for column in table.columns:
        if column.name not in row:
            raise Invalid(f"{where}: the row lacks {column.name}", field=column.name)
        value = row[column.name]
        kind = column.type.impl if isinstance(column.type, TypeDecorator) else column.type
        if value is None:
            if not column.nullable:
                raise Invalid(f"{where}: {column.name} must not be null", field=column.name)
        else:
            try:
                value = _value(kind, value)
            except (TypeError, ValueError) as exc:
                raise Invalid(f"{where}: {column.name} is not a valid value ({exc})",
                              field=column.name) from exc
        out[column.name] = value
    return out


def _plain_file(folder: Path, name: str) -> Path:
    """A file directly inside the folder, never a link or a path that leads out of it."""
    path = folder / name
    if path.is_symlink() or not path.is_file() or path.resolve().parent != folder.resolve():
        raise Invalid(f"{name} is missing from the folder or is not a plain file in it")
    return path


def _json_file(folder: Path, name: str) -> Any:
    try:
        return json.loads(_plain_file(folder, name).read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise Invalid(f"{name} is not readable JSON") from exc


def _manifest_heads(manifest: Any) -> tuple[dict[str, int], dict[int, tuple[int, str]]]:
    """The manifest's row counts and audit heads, or Invalid if it is not a register's."""
    if (not isinstance(manifest, dict) or manifest.get("format") != FORMAT
            or manifest.get("version") != FORMAT_VERSION):
        raise Invalid("this is not a register export this version can read")
    tables = manifest.get("tables")
    if not isinstance(tables, dict) or set(tables) != set(TABLES):
        strange = sorted(set(tables) - set(TABLES)) if isinstance(tables, dict) else []
        raise Invalid("the manifest must list exactly the register's tables"
                      + (f", not {strange[0]!r}" if strange else ""))
    if not all(type(n) is int and n >= 0 for n in tables.values()):
        raise Invalid("the manifest's row counts must be whole numbers")
    raw = manifest.get("audit_heads")
    heads: dict[int, tuple[int, str]] = {}
    if not isinstance(raw, dict):
        raise Invalid("the manifest's audit heads are malformed")
    for chain, h in raw.items():
        if (not isinstance(chain, str) or not chain.isdigit() or not isinstance(h, dict)
                or type(h.get("seq")) is not int or not isinstance(h.get("hash"), str)
                or len(h["hash"]) != 64 or not set(h["hash"]) <= _HASH):
            raise Invalid("the manifest's audit heads are malformed")
        heads[int(chain)] = (h["seq"], h["hash"])
    return tables, heads


def import_register(session: Session, folder: Path, *, head: Any,
                    trusted: Ed25519PublicKey) -> dict[str, int]:
    """Load an export into an empty register. Refused unless ``head`` is signed by the
    trusted key and the imported audit chains verify and end exactly at its heads (the
    folder's own manifest is never trusted for that), or if any file or row is malformed."""
    problem = audit_head.check_signature(head, trusted)
    if problem:
        raise Invalid(f"the signed head cannot be trusted: {problem}")
    signed = audit_head.signed_heads(head)
    tables, heads = _manifest_heads(_json_file(folder, "manifest.json"))
    if heads != signed:
        raise Invalid("the export's manifest does not match the signed head: the folder is "
                      "not the export that was signed")
    for name in TABLES:
        if session.scalar(select(func.count()).select_from(_table(name))):
            raise Conflict(f"the register is not empty ({name} has rows)")
    counts: dict[str, int] = {}
    for name in TABLES:
        table = _table(name)
        path = _plain_file(folder, f"{name}.jsonl")
        batch: list[dict[str, Any]] = []
        count = 0
        try:
            with path.open(encoding="utf-8") as jl:
                for number, line in enumerate(jl, start=1):
                    if line.strip():
                        where = f"{name}.jsonl line {number}"
                        try:
                            row = json.loads(line)
                        except ValueError as exc:
                            raise Invalid(f"{where} is not JSON") from exc
                        batch.append(_parse(table, row, where))
                        count += 1
                    if len(batch) >= 1000:
                        session.execute(insert(table), batch)
                        batch = []
            if batch:
                session.execute(insert(table), batch)
        except UnicodeDecodeError as exc:
            raise Invalid(f"{name}.jsonl is not UTF-8 text") from exc
        except SQLAlchemyError as exc:
            raise Invalid(f"{name}: a row cannot be stored as it is (a duplicate, a missing "
                          "parent or a value out of range)") from exc
        if count != tables[name]:
            raise Invalid(f"{name}: {count} rows, the manifest says {tables[name]}")
        counts[name] = count
    try:
        session.flush()
    except SQLAlchemyError as exc:
        raise Invalid("the rows cannot be stored as they are") from exc
    if session.get_bind().dialect.name == "postgresql":
        # Rows came with their ids: move each id sequence past them.
        for name in TABLES:
            table = _table(name)
            for column in table.primary_key.columns:
                if column.autoincrement is True or (
                        column.autoincrement == "auto" and len(table.primary_key.columns) == 1
                        and column.type.python_type is int):
                    session.execute(text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', '{column.name}'), "  # noqa: S608
                        f"COALESCE((SELECT MAX({column.name}) FROM {name}), 0) + 1, false)"))
    result = audit.verify(session)
    if not result.ok:
        raise Invalid(f"the imported audit chain does not verify: {result.problem}")
    if result.heads != signed:
        raise Invalid("the imported audit chain does not verify against the signed head: "
                      + _head_difference(result.heads, signed))
    for name, checked in consent_ops.verify_records(session):
        if not checked.ok:
            raise Invalid(f"the imported {name} do not match their audit entries: "
                          f"{checked.problem}")
    return counts


def _head_difference(found: dict[int, tuple[int, str]],
                     signed: dict[int, tuple[int, str]]) -> str:
    for chain in sorted(set(found) | set(signed)):
        have, want = found.get(chain), signed.get(chain)
        if have is None:
            return f"chain {chain} is missing"
        if want is None:
            return f"chain {chain} is not in the signed head"
        if have[0] != want[0]:
            return f"chain {chain} ends at entry {have[0]}, the signed head at {want[0]}"
        if have[1] != want[1]:
            return f"chain {chain} was rewritten (entry {have[0]} has another hash)"
    return "the heads differ"
