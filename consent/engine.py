"""The consent-check engine: a pure function from facts to a decision. No I/O here.

The engine is handed everything it needs (the agreements that could apply, the notices
covering them, the subject's latest consent event per notice, and the time) and returns a
decision per category. It never looks anything up, so it can be tested exhaustively.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


class Reason(enum.StrEnum):
    """Why a category was denied."""

    NO_CONSENT = "no_consent"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"
    RECONSENT_REQUIRED = "reconsent_required"
    NO_AGREEMENT = "no_agreement"
    CATEGORY_NOT_IN_AGREEMENT = "category_not_in_agreement"
    AGENCY_INACTIVE = "agency_inactive"


# When several notices could have given consent, the answer names the most telling reason.
_REASON_RANK = {
    Reason.WITHDRAWN: 0,
    Reason.EXPIRED: 1,
    Reason.RECONSENT_REQUIRED: 2,
    Reason.REFUSED: 3,
    Reason.NO_CONSENT: 4,
}

CONSENT = "consent"
PERMITTING_EVENTS = frozenset({"given", "renewed"})


@dataclass(frozen=True, slots=True)
class AgreementFact:
    """A sharing agreement from the discloser to the recipient for the purpose."""

    id: int
    lawful_basis: str
    categories: frozenset[str]
    valid_from: dt.datetime
    valid_to: dt.datetime | None = None
    retired: bool = False
    statutory_gateway: str = ""

    def in_force(self, now: dt.datetime) -> bool:
        """True when the agreement applies at ``now``."""
        if self.retired or now < self.valid_from:
            return False
        return self.valid_to is None or now < self.valid_to


@dataclass(frozen=True, slots=True)
class NoticeFact:
    """A notice: which of its versions cover which agreements, and re-consent rules."""

    id: int
    # version number -> agreement ids that version covers
    coverage: Mapping[int, frozenset[int]]
    # The highest published version number that requires re-consent (None if none does):
    # a consent to any earlier version no longer counts.
    reconsent_from: int | None = None
    # The agreements any version covers, derived once: asked for each agreement on each check.
    covers: frozenset[int] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "covers", frozenset().union(*self.coverage.values()))


@dataclass(frozen=True, slots=True)
class ConsentFact:
    """The subject's latest consent event for one notice."""

    notice_id: int
    event_type: str
    event_id: str
    notice_version: int
    valid_until: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class CheckFacts:
    """Everything the engine needs to answer one question."""

    now: dt.datetime
    categories: Sequence[str]
    agreements: Sequence[AgreementFact]
    notices: Sequence[NoticeFact] = ()
    consents: Mapping[int, ConsentFact] = field(default_factory=dict)
    discloser_active: bool = True
    recipient_active: bool = True
    permit_ttl: dt.timedelta = dt.timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class CategoryDecision:
    """The answer for one category."""

    permit: bool
    basis: str | None = None
    reason: Reason | None = None
    agreement_id: int | None = None
    consent_id: str | None = None
    notice_version: int | None = None
    statutory_gateway: str = ""
    valid_until: dt.datetime | None = None

    def as_json(self) -> dict[str, object]:
        """The API's per-category object."""
        if not self.permit:
            return {"decision": "deny", "reason": str(self.reason)}
        out: dict[str, object] = {"decision": "permit", "basis": self.basis}
        if self.consent_id is not None:
            out["consent_id"] = self.consent_id
            out["notice_version"] = self.notice_version
        if self.statutory_gateway:
            out["statutory_gateway"] = self.statutory_gateway
        return out


@dataclass(frozen=True, slots=True)
class Decision:
    """The whole answer: permit only if every category is permitted."""

    permit: bool
    categories: Mapping[str, CategoryDecision]
    basis: str | None
    reason: Reason | None
    evaluated_at: dt.datetime
    valid_until: dt.datetime


def consent_status(fact: ConsentFact | None, notice: NoticeFact, agreement_id: int,
                   now: dt.datetime) -> Reason | None:
    """None if this consent covers the agreement now, otherwise the reason it does not."""
    if fact is None:
        return Reason.NO_CONSENT
    if fact.event_type == "withdrawn":
        return Reason.WITHDRAWN
    if fact.event_type == "refused":
        return Reason.REFUSED
    if fact.event_type == "expired":
        return Reason.EXPIRED
    if fact.event_type not in PERMITTING_EVENTS:
        return Reason.NO_CONSENT
    if fact.valid_until is not None and now >= fact.valid_until:
        return Reason.EXPIRED
    if notice.reconsent_from is not None and fact.notice_version < notice.reconsent_from:
        return Reason.RECONSENT_REQUIRED
    if agreement_id not in notice.coverage.get(fact.notice_version, frozenset()):
        # The person agreed to a text that did not mention this sharing.
        return Reason.NO_CONSENT
    return None


def _by_id(fact: AgreementFact | NoticeFact) -> int:
    return fact.id


def _decide_category(category: str, facts: CheckFacts, agreements: Sequence[AgreementFact],
                     notices: Sequence[NoticeFact]) -> CategoryDecision:
    # agreements and notices come sorted by id: the order in which they are consulted.
    covering = [a for a in agreements if category in a.categories]
    if not covering:
        return CategoryDecision(False, reason=Reason.CATEGORY_NOT_IN_AGREEMENT)
    # A statutory basis needs no consent and must not consult it.
    for agreement in covering:
        if agreement.lawful_basis != CONSENT:
            return CategoryDecision(True, basis=agreement.lawful_basis,
                                    agreement_id=agreement.id,
                                    statutory_gateway=agreement.statutory_gateway,
                                    valid_until=agreement.valid_to)
    best: Reason = Reason.NO_CONSENT
    for agreement in covering:
        for notice in notices:
            if agreement.id not in notice.covers:
                continue
            fact = facts.consents.get(notice.id)
            reason = consent_status(fact, notice, agreement.id, facts.now)
            if reason is not None:
                if _REASON_RANK[reason] < _REASON_RANK[best]:
                    best = reason
                continue
            if fact is None:  # consent_status never permits without a fact
                continue
            limits = [t for t in (fact.valid_until, agreement.valid_to) if t is not None]
            return CategoryDecision(True, basis=CONSENT, agreement_id=agreement.id,
                                    consent_id=fact.event_id,
                                    notice_version=fact.notice_version,
                                    valid_until=min(limits) if limits else None)
    return CategoryDecision(False, reason=best)


def decide(facts: CheckFacts) -> Decision:
    """Answer one question from the facts alone."""
    now = facts.now
    horizon = now + facts.permit_ttl
    if not facts.discloser_active or not facts.recipient_active:
        per = {c: CategoryDecision(False, reason=Reason.AGENCY_INACTIVE) for c in facts.categories}
    else:
        in_force = sorted((a for a in facts.agreements if a.in_force(now)), key=_by_id)
        if not in_force:
            per = {c: CategoryDecision(False, reason=Reason.NO_AGREEMENT)
                   for c in facts.categories}
        else:
            notices = sorted(facts.notices, key=_by_id)
            per = {c: _decide_category(c, facts, in_force, notices) for c in facts.categories}
    permit = bool(per) and all(d.permit for d in per.values())
    reason = next((d.reason for d in per.values() if not d.permit), None)
    if not per:
        reason = Reason.CATEGORY_NOT_IN_AGREEMENT
    bases = {d.basis for d in per.values()}
    basis = bases.pop() if permit and len(bases) == 1 else None
    valid_until = now
    if permit:
        limits = [horizon] + [d.valid_until for d in per.values() if d.valid_until is not None]
        valid_until = max(now, min(limits))
    return Decision(permit=permit, categories=per, basis=basis, reason=reason,
                    evaluated_at=now, valid_until=valid_until)
