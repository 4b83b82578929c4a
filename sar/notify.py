"""The emails of the SAR workflow, each in the person's language and the wording they chose.

By default an email says only that there is something to read on the portal (whoever reads
the mailbox learns nothing of a request for records); the requester may choose detailed
wording, or no email at all. A request filed by an account is followed only while signed in
to it, so its emails carry no link that works without signing in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from email.message import EmailMessage

from flask import render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from portal import mail
from portal.config import Config
from sar import delivery
from sar import operations as ops
from sar.models import SarRequest, SarTask
from sar.operations import Notice


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
        "link": _("A new link to follow your request %(reference)s"),
    }


def to_requester(sar: SarRequest, event: str, config: Config, **extra: object) \
        -> EmailMessage | None:
    """The email telling the requester of a step, or None when they chose no email."""
    wording = mail.wording(sar.email_wording)
    if wording == mail.NO_EMAIL or not sar.requester_email:
        return None
    signed_in = sar.account_id is not None
    if signed_in and event != "ready":
        # Followed only while signed in: the link is to the account's requests, not a token.
        extra["link"] = config.public_url.rstrip("/") + "/sar/mine"
    with force_locale(sar.language):
        if wording == mail.DETAILED:
            subject = _subjects()[event] % {"reference": sar.reference}
            text = render_template(f"email/sar/{event}.txt", sar=sar, signed_in=signed_in,
                                   public_url=config.public_url, **extra)
        else:
            subject = mail.neutral_subject(config)
            text = render_template("email/neutral.txt", signed_in=signed_in,
                                   download=event == "ready",
                                   partnership=config.partnership_name, **extra)
    return mail.build(sar.requester_email, subject, text, config=config)


def for_notice(notice: Notice, config: Config, *,
               track_link: Callable[[SarRequest], str]) -> EmailMessage | None:
    """The email a step owes the requester: a released bundle's carries its single-use
    download link, any other step's the link to follow the request."""
    extra = dict(notice.extra)
    if notice.bundle_id is not None:
        token = delivery.make_token(config, notice.bundle_id)
        link = f"{config.public_url}/sar/download/{token}"
        extra["days"] = delivery.link_max_age(config) // 86400
    else:
        link = track_link(notice.sar)
    return to_requester(notice.sar, notice.event, config, link=link, **extra)


def send(session: Session, notices: Iterable[Notice], config: Config, *,
         track_link: Callable[[SarRequest], str]) -> None:
    """Write the emails the steps owe the requester to the outbox, in this transaction, and
    keep each notice with its delivery record (a tracking link sent on demand is no notice
    of the case)."""
    for notice in notices:
        msg = (for_notice(notice, config, track_link=track_link)
               if notice.sar.requester_email else None)
        row = mail.queue(msg, kind=f"sar.{notice.event}", object_type="sar",
                         object_id=str(notice.sar.id))
        if notice.event != "link":
            ops.record_notice(session, notice, mail_id=row.id if row else None)


def task_reminder(task: SarTask, config: Config) -> EmailMessage:
    """A reminder to an agency whose task is late (staff email: English)."""
    with force_locale("en"):
        text = render_template("email/sar/task_reminder.txt", task=task,
                               public_url=config.public_url)
        subject = _("Subject access request task overdue: due %(date)s",
                    date=task.due_on.isoformat())
    return mail.build(task.agency.sar_contact, subject, text, config=config)
