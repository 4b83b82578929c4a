"""The data download never carries safe-contact instructions: whoever holds the account may
not be the person, and would learn how the person hides contact."""

from __future__ import annotations

import io
import zipfile
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from portal.reference.models import Subject
from tests.consent.selfservice.helpers import linked_account
from tests.identity_helpers import login


def test_the_download_has_no_safe_contact_instructions(client: FlaskClient, session: Session,
                                                       demo: Any) -> None:
    # Given a person whose record holds safe-contact instructions, with a linked account
    account = linked_account(session)
    subject = session.get(Subject, account.subject_id)
    assert subject is not None
    subject.safe_contact = "Only call the sister's number 07700 900999, never the home"
    session.commit()
    login(client, account)
    # When the account downloads the person's data
    r = client.get("/my/download/my-data.zip")
    assert r.status_code == 200
    # Then no file in it holds the instructions, or even a field for them
    with zipfile.ZipFile(io.BytesIO(r.data)) as archive:
        text = "".join(archive.read(name).decode() for name in archive.namelist())
    assert "07700 900999" not in text and "sister" not in text
    assert '"safe_contact"' not in text
