"""Outgoing email: real SMTP when configured, otherwise files in the instance outbox folder.

A message is written to the durable outbox (``portal.outbox``) in the request's transaction
and sent only after its commit succeeds, so nobody is told of something that was then rolled
back, and nothing is lost when a send fails or the process dies before sending: the worker
(``flask sar worker``, or ``flask mail send``) retries it.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import uuid
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path

from flask import current_app, g
from flask_babel import gettext as _

from portal import database, outbox
from portal.config import Config

log = logging.getLogger("portal.mail")

# What an email to a member of the public may say (their choice; DESIGN §12). Neutral says
# only that there is something to read on the portal; detailed says what it is about; none
# means nothing is sent (they check the portal, or staff use the channel they chose).
NEUTRAL, DETAILED, NO_EMAIL = "neutral", "detailed", "none"
WORDINGS = (NEUTRAL, DETAILED, NO_EMAIL)


def wording(value: str) -> str:
    """A stored wording choice read safely: anything unknown counts as neutral."""
    return value if value in WORDINGS else NEUTRAL


def neutral_subject(config: Config) -> str:
    """The subject line of an email that must not tell a mailbox's reader what it is about."""
    # Translators: the subject of emails to the public; %(name)s is the partnership's name,
    # like "Fenshire Community Safety Partnership". It must not say what the email is about.
    return str(_("A message from the %(name)s portal", name=config.partnership_name))


def build(to: str, subject: str, text: str, *, html: str | None = None,
          attachments: list[tuple[str, str, bytes]] | None = None,
          config: Config | None = None) -> EmailMessage:
    """A message from the partnership's address, with optional HTML and attachments."""
    cfg = config or current_app.config["PORTAL"]
    msg = EmailMessage()
    msg["From"] = cfg.mail_from
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = f"<{uuid.uuid4()}@{cfg.mail_from.rsplit('@', 1)[-1]}>"
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    for filename, mime, data in attachments or []:
        maintype, _, subtype = mime.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg


def send_now(msg: EmailMessage, config: Config) -> None:
    """Deliver one message through SMTP, or write it to the outbox folder."""
    if not config.smtp_host:
        outbox = Path(config.instance_path) / "outbox"
        outbox.mkdir(parents=True, exist_ok=True)
        name = f"{uuid.uuid4().hex}.eml"
        (outbox / name).write_bytes(bytes(msg))
        log.info("mail written to outbox", extra={"file": name})
        return
    context = ssl.create_default_context()
    if config.smtp_tls == "ssl":
        client: smtplib.SMTP = smtplib.SMTP_SSL(config.smtp_host, config.smtp_port,
                                                context=context, timeout=10)
    else:
        client = smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=10)
    with client:
        if config.smtp_tls == "starttls":
            client.starttls(context=context)
        if config.smtp_user:
            client.login(config.smtp_user, config.smtp_password)
        client.send_message(msg)


def queue(msg: EmailMessage | None, *, kind: str = "", object_type: str = "",
          object_id: str = "", by_worker: bool = False) -> outbox.OutboxMail | None:
    """Write this message to the outbox in the current request's transaction, to be sent
    once it has committed (None: the person chose no email, so nothing is sent). With
    ``by_worker`` only the worker sends it, so that the request takes no longer for it."""
    if msg is None:
        return None
    row = outbox.enqueue(database.session(), msg, kind=kind, object_type=object_type,
                         object_id=object_id)
    if not by_worker:
        g.setdefault("outgoing_mail", []).append(row.id)
    return row


def flush_queue() -> None:
    """Send what the request queued (called after a successful commit); a message that
    fails stays queued for the worker's retries."""
    ids = g.pop("outgoing_mail", [])
    if not ids:
        return
    config: Config = current_app.config["PORTAL"]
    try:
        outbox.send_ids(database.get_database(current_app).sessionmaker, ids, config)
    except Exception:
        # The change and its messages are committed; the worker sends what is left.
        log.exception("outbox could not be flushed after the commit")


def discard_queue() -> None:
    """Forget the queued messages after a rollback (their rows were rolled back too)."""
    g.pop("outgoing_mail", None)
