"""Sharing-agreement administration: create, edit (in place or as a new version), retire.

An agreement nobody relies on yet may be corrected in place. One that is in use (a notice
version covers it, or a check has been answered on its route since it was made) is never
rewritten: an edit retires it and creates its successor (same reference, version + 1,
``supersedes_id``), and every notice version that covered it covers the successor too, so
the consents people gave keep permitting exactly what they permitted before.

Because those consents carry over, an edit of an agreement in use (or of any version after
the first) may not widen what people agreed to: its route (from, to, purpose) is fixed, on
the consent basis no category may be added that any earlier version lacked (the rule holds
along the whole lineage, so no detour through other edits widens a consent), and its basis
never changes to or from consent. Widening needs a new agreement and a notice version asking
for consent again.

A category a route ever shared on consent stays consent-based on that route: no agreement on
another basis may share it there (a refusal or a withdrawal must not become a permit), and
no consent is asked for a category an agreement in force already shares there by law.
Another basis is a new agreement for another purpose, shown to the people it affects on
their statutory sharing page. Legitimate interests is not open to a public authority
disclosing for its tasks (UK GDPR Art 6(1), last paragraph).

Every operation validates everything (the form only checks shapes), writes one audit entry
with the changed fields before and after (reference data only: no personal data) and
flushes; the caller commits.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from consent.models import CheckDecision, notice_version_agreements
from portal import audit
from portal.audit import Actor
from portal.database import utcnow
from portal.errors import Conflict, Invalid, NotFound
from portal.reference.models import (
    PUBLIC_AUTHORITY_KINDS,
    Agency,
    DataCategory,
    LawfulBasis,
    Purpose,
    SharingAgreement,
)

REFERENCE = re.compile(r"^[A-Z0-9]+(?:-[A-Z0-9]+)*$")
# Bases that rest on a statute: the agreement must name the law (the check returns it).
NEEDS_GATEWAY = frozenset({LawfulBasis.PUBLIC_TASK, LawfulBasis.LEGAL_OBLIGATION,
                           LawfulBasis.LAW_ENFORCEMENT})
_NVA = notice_version_agreements


@dataclass(frozen=True)
class AgreementValues:
    """What a partnership admin sets on an agreement (everything but its reference)."""

    title: str
    from_agency_id: int
    to_agency_id: int
    purpose_id: int
    lawful_basis: str
    valid_from: dt.datetime
    category_ids: tuple[int, ...]
    statutory_gateway: str = ""
    art9_condition: str = ""
    valid_to: dt.datetime | None = None


class AgreementInvalid(Invalid):
    """One or more rules broken: ``problems`` lists (field, code) pairs for the form."""

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{f}: {c}" for f, c in problems),
                         field=problems[0][0] if problems else None)
        self.problems = list(problems)


@dataclass
class EditOutcome:
    """What an edit did: nothing, a correction in place, or a new version."""

    agreement: SharingAgreement
    versioned: bool = False
    changed: dict[str, Any] = field(default_factory=dict)


def _plain(agreement: SharingAgreement) -> dict[str, Any]:
    """The agreement's fields as plain values (slugs, ISO dates) for diffs and the audit."""
    return {
        "title": agreement.title,
        "from_agency": agreement.from_agency.slug,
        "to_agency": agreement.to_agency.slug,
        "purpose": agreement.purpose.slug,
        "lawful_basis": agreement.lawful_basis,
        "statutory_gateway": agreement.statutory_gateway,
        "art9_condition": agreement.art9_condition,
        "valid_from": agreement.valid_from.isoformat(),
        "valid_to": agreement.valid_to.isoformat() if agreement.valid_to else None,
        "categories": sorted(c.slug for c in agreement.categories),
    }


def _resolve(session: Session, values: AgreementValues, problems: list[tuple[str, str]]
             ) -> tuple[dict[str, Any], list[DataCategory]]:
    """Check every rule; return the resolved rows (agencies, purpose, categories)."""
    def usable(row: Any, retired: bool) -> bool:
        return row is not None and not retired

    src = session.get(Agency, values.from_agency_id)
    dst = session.get(Agency, values.to_agency_id)
    purpose = session.get(Purpose, values.purpose_id)
    if not usable(src, src is not None and not src.active):
        problems.append(("from_agency", "agency-unknown"))
    if not usable(dst, dst is not None and not dst.active):
        problems.append(("to_agency", "agency-unknown"))
    elif values.from_agency_id == values.to_agency_id:
        problems.append(("to_agency", "same-agency"))
    if not usable(purpose, purpose is not None and purpose.retired_at is not None):
        problems.append(("purpose", "purpose-unknown"))
    if values.lawful_basis not in {b.value for b in LawfulBasis}:
        problems.append(("lawful_basis", "basis-unknown"))
    elif values.lawful_basis in NEEDS_GATEWAY and not values.statutory_gateway.strip():
        problems.append(("statutory_gateway", "gateway-required"))
    elif values.lawful_basis == LawfulBasis.LEGITIMATE_INTERESTS and src is not None \
            and src.kind in PUBLIC_AUTHORITY_KINDS:
        problems.append(("lawful_basis", "basis-public-authority"))
    if values.valid_to is not None and values.valid_to <= values.valid_from:
        problems.append(("valid_to", "dates-order"))
    ids = list(dict.fromkeys(values.category_ids))
    categories = list(session.scalars(select(DataCategory).where(DataCategory.id.in_(ids))
                                      .order_by(DataCategory.slug))) if ids else []
    if not ids:
        problems.append(("categories", "categories-required"))
    elif len(categories) != len(ids) or any(c.retired_at is not None for c in categories):
        problems.append(("categories", "category-unknown"))
    elif any(c.special_category for c in categories) and not values.art9_condition.strip():
        problems.append(("art9_condition", "art9-required"))
    return {"from_agency": src, "to_agency": dst, "purpose": purpose}, categories


def _route_basis(session: Session, values: AgreementValues, categories: list[DataCategory],
                 reference: str, problems: list[tuple[str, str]]) -> None:
    """Refuse mixing consent and another basis for one category on one route (see module)."""
    if not categories or values.lawful_basis not in {b.value for b in LawfulBasis}:
        return
    wanted = {c.id for c in categories}
    others = session.scalars(select(SharingAgreement).where(
        SharingAgreement.from_agency_id == values.from_agency_id,
        SharingAgreement.to_agency_id == values.to_agency_id,
        SharingAgreement.purpose_id == values.purpose_id,
        SharingAgreement.reference != reference))
    for other in others:
        if not wanted & {c.id for c in other.categories}:
            continue
        if values.lawful_basis != LawfulBasis.CONSENT \
                and other.lawful_basis == LawfulBasis.CONSENT:
            # Retired or not: people refused or withdrew under it.
            problems.append(("lawful_basis", "route-consent-based"))
            return
        if values.lawful_basis == LawfulBasis.CONSENT \
                and other.lawful_basis != LawfulBasis.CONSENT and other.retired_at is None:
            problems.append(("lawful_basis", "route-statutory"))
            return


def in_use(session: Session, agreement: SharingAgreement) -> bool:
    """True when rewriting the agreement would rewrite history someone relied on."""
    if session.scalar(select(func.count()).select_from(_NVA)
                      .where(_NVA.c.agreement_id == agreement.id)):
        return True
    # A decision record names its route, not the agreement: any check on the route since
    # the agreement was made may have relied on it.
    return bool(session.scalar(select(func.count()).select_from(CheckDecision).where(
        CheckDecision.agency_id == agreement.from_agency_id,
        CheckDecision.recipient_agency_id == agreement.to_agency_id,
        CheckDecision.purpose_id == agreement.purpose_id,
        CheckDecision.evaluated_at >= agreement.created_at)))


def locked(agreement: SharingAgreement, used: bool) -> bool:
    """True when the agreement's route and consent basis are fixed: it is in use, or it is a
    later version (its lineage is something people may have relied on, even if it is not)."""
    return used or agreement.version > 1


def covering_notice_versions(session: Session, agreement_id: int) -> list[int]:
    """The ids of the notice versions (any status) that cover this agreement."""
    return list(session.scalars(select(_NVA.c.notice_version_id)
                                .where(_NVA.c.agreement_id == agreement_id)
                                .order_by(_NVA.c.notice_version_id)))


def create_agreement(session: Session, reference: str, values: AgreementValues, *,
                     actor: Actor) -> SharingAgreement:
    """Create version 1 of a new agreement; a reference already used is refused."""
    problems: list[tuple[str, str]] = []
    if not REFERENCE.match(reference) or len(reference) > 64:
        problems.append(("reference", "reference-format"))
    elif session.scalar(select(func.count()).select_from(SharingAgreement)
                        .where(SharingAgreement.reference == reference)):
        problems.append(("reference", "reference-taken"))
    rows, categories = _resolve(session, values, problems)
    _route_basis(session, values, categories, reference, problems)
    if problems:
        raise AgreementInvalid(problems)
    agreement = SharingAgreement(
        reference=reference, title=values.title, from_agency=rows["from_agency"],
        to_agency=rows["to_agency"], purpose=rows["purpose"], lawful_basis=values.lawful_basis,
        statutory_gateway=values.statutory_gateway, art9_condition=values.art9_condition,
        valid_from=values.valid_from, valid_to=values.valid_to, version=1,
        categories=categories, created_at=utcnow())
    session.add(agreement)
    session.flush()
    audit.record(session, "agreement.create", actor, object_type="sharing_agreement",
                 object_id=str(agreement.id),
                 details={"reference": reference, "version": 1,
                          "values": _plain(agreement)})
    return agreement


def _locked(session: Session, agreement_id: int) -> SharingAgreement:
    # Two admins editing at once must not both make "version n + 1".
    agreement = session.get(SharingAgreement, agreement_id, with_for_update=True,
                            populate_existing=True)
    if agreement is None:
        raise NotFound("no such agreement")
    if agreement.retired_at is not None:
        raise Conflict("the agreement is retired or superseded")
    return agreement


def update_agreement(session: Session, agreement_id: int, values: AgreementValues, *,
                     actor: Actor) -> EditOutcome:
    """Change an agreement: in place if unused, otherwise as a new version (see module)."""
    old = _locked(session, agreement_id)
    problems: list[tuple[str, str]] = []
    rows, categories = _resolve(session, values, problems)
    _route_basis(session, values, categories, old.reference, problems)
    used = in_use(session, old)
    if locked(old, used):
        if (values.from_agency_id, values.to_agency_id, values.purpose_id) != (
                old.from_agency_id, old.to_agency_id, old.purpose_id):
            problems.append(("from_agency", "route-locked"))
        if (values.lawful_basis == LawfulBasis.CONSENT) != (
                old.lawful_basis == LawfulBasis.CONSENT):
            problems.append(("lawful_basis", "basis-locked"))
        if values.lawful_basis == LawfulBasis.CONSENT:
            # Against every earlier version, not only the last: a consent given to the
            # first must not come to permit what the first never listed.
            allowed = {c.id for c in old.categories}
            for earlier in history(session, old.reference):
                allowed &= {c.id for c in earlier.categories}
            if not {c.id for c in categories} <= allowed:
                problems.append(("categories", "categories-widened"))
    if problems:
        raise AgreementInvalid(problems)
    before = _plain(old)
    after = {
        "title": values.title, "from_agency": rows["from_agency"].slug,
        "to_agency": rows["to_agency"].slug, "purpose": rows["purpose"].slug,
        "lawful_basis": values.lawful_basis, "statutory_gateway": values.statutory_gateway,
        "art9_condition": values.art9_condition, "valid_from": values.valid_from.isoformat(),
        "valid_to": values.valid_to.isoformat() if values.valid_to else None,
        "categories": sorted(c.slug for c in categories),
    }
    changed = {k: {"before": before[k], "after": after[k]}
               for k in before if before[k] != after[k]}
    if not changed:
        return EditOutcome(old)
    if not used:
        old.title = values.title
        old.from_agency, old.to_agency = rows["from_agency"], rows["to_agency"]
        old.purpose = rows["purpose"]
        old.lawful_basis = values.lawful_basis
        old.statutory_gateway = values.statutory_gateway
        old.art9_condition = values.art9_condition
        old.valid_from, old.valid_to = values.valid_from, values.valid_to
        old.categories = categories
        session.flush()
        audit.record(session, "agreement.update", actor, object_type="sharing_agreement",
                     object_id=str(old.id),
                     details={"reference": old.reference, "version": old.version,
                              "changed": changed})
        return EditOutcome(old, versioned=False, changed=changed)
    now = utcnow()
    version = int(session.scalar(select(func.max(SharingAgreement.version))
                                 .where(SharingAgreement.reference == old.reference)) or 0) + 1
    new = SharingAgreement(
        reference=old.reference, title=values.title, from_agency=rows["from_agency"],
        to_agency=rows["to_agency"], purpose=rows["purpose"], lawful_basis=values.lawful_basis,
        statutory_gateway=values.statutory_gateway, art9_condition=values.art9_condition,
        valid_from=values.valid_from, valid_to=values.valid_to, version=version,
        supersedes_id=old.id, categories=categories, created_at=now)
    old.retired_at = now
    session.add(new)
    session.flush()
    # Consents are tied to notice versions, which name agreement ids: without these rows
    # every consent to the old version would silently stop permitting.
    notice_versions = covering_notice_versions(session, old.id)
    if notice_versions:
        session.execute(insert(_NVA), [{"notice_version_id": nv, "agreement_id": new.id}
                                       for nv in notice_versions])
    session.flush()
    audit.record(session, "agreement.version", actor, object_type="sharing_agreement",
                 object_id=str(new.id),
                 details={"reference": new.reference, "version": version,
                          "supersedes": old.id, "changed": changed,
                          "notice_versions": notice_versions})
    return EditOutcome(new, versioned=True, changed=changed)


def retire_agreement(session: Session, agreement_id: int, *, actor: Actor) -> SharingAgreement:
    """Retire an agreement: no check permits under it from now on (history keeps it)."""
    agreement = _locked(session, agreement_id)
    agreement.retired_at = utcnow()
    session.flush()
    audit.record(session, "agreement.retire", actor, object_type="sharing_agreement",
                 object_id=str(agreement.id),
                 details={"reference": agreement.reference, "version": agreement.version,
                          "notice_versions": covering_notice_versions(session, agreement.id)})
    return agreement


def current_agreements(session: Session) -> list[SharingAgreement]:
    """Agreements in force or waiting to start: the newest version of each, not retired."""
    return list(session.scalars(select(SharingAgreement)
                                .where(SharingAgreement.retired_at.is_(None))
                                .order_by(SharingAgreement.reference)))


def retired_agreements(session: Session) -> list[SharingAgreement]:
    """Agreements retired outright (not replaced by a newer version): their last version."""
    superseded = select(SharingAgreement.supersedes_id).where(
        SharingAgreement.supersedes_id.is_not(None))
    return list(session.scalars(select(SharingAgreement).where(
        SharingAgreement.retired_at.is_not(None), SharingAgreement.id.not_in(superseded))
        .order_by(SharingAgreement.reference)))


def history(session: Session, reference: str) -> list[SharingAgreement]:
    """Every version of an agreement, newest first."""
    return list(session.scalars(select(SharingAgreement)
                                .where(SharingAgreement.reference == reference)
                                .order_by(SharingAgreement.version.desc())))


def get(session: Session, agreement_id: int) -> SharingAgreement:
    """One agreement version, or NotFound."""
    agreement = session.get(SharingAgreement, agreement_id)
    if agreement is None:
        raise NotFound("no such agreement")
    return agreement
