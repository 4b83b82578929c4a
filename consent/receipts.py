"""Consent receipts: Kantara Consent Receipt v1.1 JSON, signed as a JWS, and a PDF to keep.

The signing key's public half is published at /.well-known/jwks.json so anyone holding a
receipt can check it was issued by this portal and has not been changed.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import render_template
from joserfc import jws
from joserfc.jwk import ECKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.models import ConsentEvent, NoticeText, NoticeVersion
from portal.config import Config
from portal.pdf import render_pdf, static_url
from portal.reference.models import Agency, SharingAgreement, Subject

KANTARA_VERSION = "KI-CR-v1.1.0"
ALGORITHM = "ES256"
CONSENTING = frozenset({"given", "renewed"})


# --- signing key -----------------------------------------------------------------------------

def signing_key(config: Config) -> ECKey:
    """The receipt signing key: from PORTAL_RECEIPT_SIGNING_KEY (a private JWK as JSON) or,
    outside production, one generated once and kept in the instance folder."""
    if config.receipt_signing_key:
        return ECKey.import_key(json.loads(config.receipt_signing_key))
    path = Path(config.instance_path) / "receipt-signing-key.json"
    if path.exists():
        return ECKey.import_key(json.loads(path.read_text()))
    key = ECKey.generate_key("P-256", parameters={"kid": uuid.uuid4().hex[:16]}, private=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(key.as_dict(private=True)))
    path.chmod(0o600)
    return key


def public_jwks(config: Config) -> dict[str, Any]:
    """The JWK Set that verifies receipts (public half only)."""
    key = signing_key(config)
    public: dict[str, Any] = dict(key.as_dict(private=False))
    public.update({"use": "sig", "alg": ALGORITHM, "kid": key.kid or ""})
    return {"keys": [public]}


def sign(receipt: dict[str, Any], config: Config) -> str:
    """The receipt as a compact JWS."""
    key = signing_key(config)
    payload = json.dumps(receipt, sort_keys=True, ensure_ascii=False).encode()
    return jws.serialize_compact({"alg": ALGORITHM, "kid": key.kid, "typ": "JWT"}, payload, key)


def verify(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    """The receipt inside a JWS, if the published key verifies it (raises otherwise)."""
    key = ECKey.import_key(jwks["keys"][0])
    obj = jws.deserialize_compact(token, key, algorithms=[ALGORITHM])
    payload: dict[str, Any] = json.loads(obj.payload)
    return payload


# --- building a receipt ----------------------------------------------------------------------

@dataclass(frozen=True)
class Choice:
    """One yes or no recorded for one notice version, with its words and its sharing."""

    event: ConsentEvent
    version: NoticeVersion
    text: NoticeText | None
    agreements: Sequence[SharingAgreement]

    @property
    def consented(self) -> bool:
        """True for a yes."""
        return self.event.event_type in CONSENTING


def _text(session: Session, version_id: int, language: str) -> NoticeText | None:
    texts = {t.language: t for t in session.scalars(
        select(NoticeText).where(NoticeText.notice_version_id == version_id))}
    return texts.get(language) or texts.get("en")


def load_choices(session: Session, events: Sequence[ConsentEvent],
                 language: str = "en") -> list[Choice]:
    """Gather what a receipt needs about each event."""
    choices = []
    for event in events:
        version = session.get(NoticeVersion, event.notice_version_id)
        if version is None:  # pragma: no cover - a foreign key guarantees it
            continue
        choices.append(Choice(event, version, _text(session, version.id, language),
                              version.shown_agreements))
    return choices


def _controller(agency: Agency) -> dict[str, Any]:
    return {"piiController": agency.name, "contact": agency.sar_contact,
            "email": agency.sar_contact, "address": {}, "phone": "",
            "piiControllerUrl": ""}


def _collection_method(event: ConsentEvent) -> str:
    how = {"web": "online, by the person", "first-contact": "in person, on a staff device",
           "paper": "on a paper form", "phone": "by telephone", "email": "by email",
           "system": "by the system"}.get(event.method, event.method)
    who = {"guardian": f", by a parent or guardian ({event.guardian_relationship})",
           "staff-assisted": ", recorded by staff with the person"}.get(event.expressed_by, "")
    return how + who


def kantara(session: Session, subject: Subject, choices: Sequence[Choice], *, receipt_id: str,
            config: Config) -> dict[str, Any]:
    """A Kantara Consent Receipt v1.1 for the consents among these choices."""
    given = [c for c in choices if c.consented]
    controllers: dict[int, Agency] = {}
    services = []
    spi: set[str] = set()
    for choice in given:
        purposes = []
        for agreement in choice.agreements:
            controllers[agreement.from_agency.id] = agreement.from_agency
            cats = list(agreement.categories)
            spi.update(c.name for c in cats if c.special_category or c.criminal_offence)
            until = choice.event.valid_until
            purposes.append({
                "purpose": agreement.purpose.name,
                "purposeCategory": [agreement.purpose.slug],
                "consentType": "EXPLICIT",
                "piiCategory": [c.name for c in cats],
                "primaryPurpose": True,
                "termination": ("Until you withdraw it" + (f", or until {until:%d %B %Y}"
                                                           if until else "")),
                "thirdPartyDisclosure": True,
                "thirdPartyName": agreement.to_agency.name,
            })
        services.append({"service": choice.text.title if choice.text else
                         f"notice {choice.version.notice_id} v{choice.version.version}",
                         "purposes": purposes})
    first = given[0].event if given else (choices[0].event if choices else None)
    return {
        "version": KANTARA_VERSION,
        "jurisdiction": "GB",
        "consentTimestamp": int(first.occurred_at.timestamp()) if first else 0,
        "collectionMethod": _collection_method(first) if first else "",
        "consentReceiptID": receipt_id,
        "language": subject.preferred_language,
        "piiPrincipalId": str(subject.id),
        "piiControllers": [_controller(a) for a in controllers.values()],
        "policyUrl": config.public_url.rstrip("/") + "/privacy",
        "services": services,
        "sensitive": bool(spi),
        "spiCat": sorted(spi),
    }


def pdf(subject: Subject, choices: Sequence[Choice], *, receipt_id: str, config: Config,
        claim_code: str | None = None, qr_svg: str | None = None,
        link_help: bool = False) -> bytes:
    """The receipt a person keeps: each choice in their language, and how to change it.

    Only the rendering printed or shown in person carries a claim code: the one that is
    emailed has none, and ``link_help`` says there how to get a code in person instead.
    """
    html = render_template("pdf/receipt.html", subject=subject, choices=choices,
                           receipt_id=receipt_id, claim_code=claim_code, qr_svg=qr_svg,
                           link_help=link_help and not claim_code,
                           public_url=config.public_url, stylesheet=static_url("pdf/pdf.css"))
    return render_pdf(html, pdf_variant="pdf/ua-1")

