"""The emails of the first-contact journey, in the person's language and chosen wording."""

from __future__ import annotations

import uuid
from email.message import EmailMessage

from flask import render_template
from flask_babel import force_locale
from flask_babel import gettext as _

from portal import mail
from portal.config import Config
from portal.reference.models import Subject


def receipt_email(person: Subject, address: str, pdf: bytes, receipt_id: uuid.UUID,
                  config: Config) -> EmailMessage:
    """The PDF receipt, to the address the person gave, saying only what they allowed."""
    detailed = mail.wording(person.email_wording) == mail.DETAILED
    with force_locale(person.preferred_language):
        text = render_template("email/staff/receipt.txt", person=person, detailed=detailed,
                               partnership=config.partnership_name)
        subject = _("Your consent receipt") if detailed else mail.neutral_subject(config)
    name = f"consent-receipt-{receipt_id}.pdf" if detailed else f"receipt-{receipt_id}.pdf"
    return mail.build(address, subject, text, attachments=[(name, "application/pdf", pdf)])
