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

from sqlalchemy import Date, DateTime, Table, func, insert, select, text
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator, Uuid

from consent import operations as consent_ops
from portal import audit, csvfile
from portal.db import Base, utcnow
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


def export_register(session: Session, folder: Path) -> dict[str, Any]:
    """Write the whole register to a folder (created if need be) and return its manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
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
    heads = audit.head(session)
    manifest = {"format": FORMAT, "version": FORMAT_VERSION,
                "exported_at": utcnow().isoformat() + "Z", "tables": counts,
                "audit_heads": {str(chain): {"seq": seq, "hash": digest}
                                for chain, (seq, digest) in heads.items()}}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return manifest


def _parse(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for column in table.columns:
        if column.name not in row:
            raise Invalid(f"{table.name}: a row lacks {column.name}", field=column.name)
        value = row[column.name]
        kind = column.type.impl if isinstance(column.type, TypeDecorator) else column.type
        if value is not None:
            if isinstance(kind, DateTime):
                value = dt.datetime.fromisoformat(value)
            elif isinstance(kind, Date):
                value = dt.date.fromisoformat(value)
            elif isinstance(kind, Uuid):
                value = uuid.UUID(value)
        out[column.name] = value
    return out


def import_register(session: Session, folder: Path) -> dict[str, int]:
    """Load an export into an empty register; refuses a non-empty one or a broken chain."""
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT or manifest.get("version") != FORMAT_VERSION:
        raise Invalid("this is not a register export this version can read")
    for name in TABLES:
        if session.scalar(select(func.count()).select_from(_table(name))):
            raise Conflict(f"the register is not empty ({name} has rows)")
    counts: dict[str, int] = {}
    for name in TABLES:
        table = _table(name)
        batch: list[dict[str, Any]] = []
        count = 0
        with (folder / f"{name}.jsonl").open(encoding="utf-8") as jl:
            for line in jl:
                if line.strip():
                    batch.append(_parse(table, json.loads(line)))
                    count += 1
                if len(batch) >= 1000:
                    session.execute(insert(table), batch)
                    batch = []
        if batch:
            session.execute(insert(table), batch)
        if count != manifest["tables"].get(name):
            raise Invalid(f"{name}: {count} rows, the manifest says {manifest['tables'][name]}")
        counts[name] = count
    session.flush()
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
    expected = {int(chain): (h["seq"], h["hash"])
                for chain, h in manifest["audit_heads"].items()}
    if not result.ok or result.heads != expected:
        raise Invalid("the imported audit chain does not verify against the export's head")
    for name, checked in consent_ops.verify_records(session):
        if not checked.ok:
            raise Invalid(f"the imported {name} do not match their audit entries: "
                          f"{checked.problem}")
    return counts
