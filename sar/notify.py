"""The emails of the SAR workflow, each in the person's language."""

from __future__ import annotations

from email.message import EmailMessage

from flask import render_template
from flask_babel import force_locale
from flask_babel import gettext as _

from portal import mail
from portal.config import Config
from sar.models import SarRequest, SarTask


def _subjects() -> dict[str, str]:
    return {
        # Translators: email subject; %(reference)s is like SAR-ABCD-EFGH
        "filed": _("We have received your subject access request %(reference)s"),
        "started": _("Your subject access request %(reference)s is in progress"),
        "paused": _("We need more information for your request %(reference)s"),
        "extended": _("We need more time for your request %(reference)s"),
        "refused": _("Our decision on your request %(reference)s"),
        "ready": _("Your records are ready: %(reference)s"),
        "message": _("A new message about your request %(reference)s"),
    }


def to_requester(sar: SarRequest, event: str, config: Config, **extra: object) -> EmailMessage:
    """The email telling the requester of a step, in their language."""
    with force_locale(sar.language):
        subject = _subjects()[event] % {"reference": sar.reference}
        text = render_template(f"email/sar/{event}.txt", sar=sar,
                               public_url=config.public_url, **extra)
    return mail.build(sar.requester_email, subject, text, config=config)


def task_reminder(task: SarTask, config: Config) -> EmailMessage:
    """A reminder to an agency whose task is late (staff email: English)."""
    with force_locale("en"):
        text = render_template("email/sar/task_reminder.txt", task=task,
                               public_url=config.public_url)
        subject = _("Subject access request task overdue: due %(date)s",
                    date=task.due_on.isoformat())
    return mail.build(task.agency.sar_contact, subject, text, config=config)
