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
    # Every version of one agreement shares its reference: the lineage a consent is read along.
    reference: str = ""

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
                   now: dt.datetime, versions: frozenset[int] | None = None) -> Reason | None:
    """None if this consent covers the agreement now, otherwise the reason it does not.

    ``versions``, when given, are the notice versions whose consent covers the category asked
    about on this agreement's lineage (see ``RouteFacts``); a consent to any other says no.
    """
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
    if versions is not None and fact.notice_version not in versions:
        # The text the person agreed to did not list this category for this sharing.
        return Reason.NO_CONSENT
    return None


def _by_id(fact: AgreementFact | NoticeFact) -> int:
    return fact.id


# A denial names only its reason, so one object per reason serves every question.
_DENIED = {reason: CategoryDecision(False, reason=reason) for reason in Reason}

# How a route decides a category: an answer that holds for everyone (no agreement covers it,
# a statutory basis, an inactive agency), or the (agreement, notice, notice versions whose
# consent covers the category) triples whose consent is consulted, in that order.
_Pair = tuple[AgreementFact, NoticeFact, frozenset[int]]
_Plan = CategoryDecision | tuple[_Pair, ...]


@dataclass(frozen=True, slots=True)
class RouteFacts:
    """What every question from one discloser to one recipient for one purpose shares at one
    moment; a batch decides each of its questions on that route against one of these.

    ``agreements`` are every agreement on the route, retired and superseded versions
    included: a category that any of them ever shared on consent stays consent-based on the
    route (a statutory agreement never permits it: a refusal or a withdrawal stays a deny),
    and a consent permits a category only if every version of the agreement that the consent's
    notice version covers lists it (no sequence of edits widens what a consent permits).
    """

    now: dt.datetime
    agreements: Sequence[AgreementFact]
    notices: Sequence[NoticeFact] = ()
    discloser_active: bool = True
    recipient_active: bool = True
    permit_ttl: dt.timedelta = dt.timedelta(seconds=60)
    # Derived when made (from copies: changing the lists given later changes nothing), and
    # what each category is decided on, derived when first asked.
    _in_force: tuple[AgreementFact, ...] = field(init=False, repr=False, compare=False)
    _notices: tuple[NoticeFact, ...] = field(init=False, repr=False, compare=False)
    _consent_categories: frozenset[str] = field(init=False, repr=False, compare=False)
    _plans: dict[str, _Plan] = field(default_factory=dict, init=False, repr=False,
                                     compare=False)

    def __post_init__(self) -> None:
        # Consulted in order of id, whatever order they come in.
        object.__setattr__(self, "_in_force", tuple(sorted(
            (a for a in self.agreements if a.in_force(self.now)), key=_by_id)))
        object.__setattr__(self, "_notices", tuple(sorted(self.notices, key=_by_id)))
        object.__setattr__(self, "_consent_categories", frozenset().union(
            *(a.categories for a in self.agreements if a.lawful_basis == CONSENT)))

    def plan(self, category: str) -> _Plan:
        """How this route decides the category (derived once per route)."""
        found = self._plans.get(category)
        if found is None:
            found = self._plans[category] = self._make_plan(category)
        return found

    def _make_plan(self, category: str) -> _Plan:
        if not self.discloser_active or not self.recipient_active:
            return _DENIED[Reason.AGENCY_INACTIVE]
        if not self._in_force:
            return _DENIED[Reason.NO_AGREEMENT]
        covering = [a for a in self._in_force if category in a.categories]
        if not covering:
            return _DENIED[Reason.CATEGORY_NOT_IN_AGREEMENT]
        # A statutory basis needs no consent and must not consult it, unless the route ever
        # shared this category on consent: then only a consent permits it.
        consent_based = category in self._consent_categories
        for agreement in covering:
            if agreement.lawful_basis != CONSENT and not consent_based:
                return CategoryDecision(True, basis=agreement.lawful_basis,
                                        agreement_id=agreement.id,
                                        statutory_gateway=agreement.statutory_gateway,
                                        valid_until=agreement.valid_to)
        return tuple((a, n, self._versions_covering(a, n, category))
                     for a in covering for n in self._notices if a.id in n.covers)

    def _versions_covering(self, agreement: AgreementFact, notice: NoticeFact,
                           category: str) -> frozenset[int]:
        """The notice's versions whose consent covers the category on the agreement: each
        covers the agreement, and every version of its lineage it covers lists the category."""
        lineage = [a for a in self.agreements
                   if a.id == agreement.id or (agreement.reference
                                               and a.reference == agreement.reference)]
        return frozenset(
            version for version, ids in notice.coverage.items()
            if agreement.id in ids and all(category in a.categories
                                           for a in lineage if a.id in ids))


def _consult(pairs: tuple[_Pair, ...], consents: Mapping[int, ConsentFact],
             now: dt.datetime) -> CategoryDecision:
    best: Reason = Reason.NO_CONSENT
    for agreement, notice, versions in pairs:
        fact = consents.get(notice.id)
        reason = consent_status(fact, notice, agreement.id, now, versions)
        if reason is not None:
            if _REASON_RANK[reason] < _REASON_RANK[best]:
                best = reason
            continue
        if fact is None:  # consent_status never permits without a fact
            continue
        limits = [t for t in (fact.valid_until, agreement.valid_to) if t is not None]
        return CategoryDecision(True, basis=CONSENT, agreement_id=agreement.id,
                                consent_id=fact.event_id, notice_version=fact.notice_version,
                                valid_until=min(limits) if limits else None)
    return _DENIED[best]


def decide_on_route(route: RouteFacts, categories: Sequence[str],
                    consents: Mapping[int, ConsentFact]) -> Decision:
    """Answer one question on a route from the person's consents: ``decide``, with what the
    route's questions share worked out once."""
    now = route.now
    per: dict[str, CategoryDecision] = {}
    for category in categories:
        plan = route.plan(category)
        per[category] = plan if isinstance(plan, CategoryDecision) else \
            _consult(plan, consents, now)
    permit = bool(per) and all(d.permit for d in per.values())
    reason = next((d.reason for d in per.values() if not d.permit), None)
    if not per:
        reason = Reason.CATEGORY_NOT_IN_AGREEMENT
    bases = {d.basis for d in per.values()}
    basis = bases.pop() if permit and len(bases) == 1 else None
    valid_until = now
    if permit:
        limits = [now + route.permit_ttl] + [d.valid_until for d in per.values()
                                             if d.valid_until is not None]
        valid_until = max(now, min(limits))
    return Decision(permit=permit, categories=per, basis=basis, reason=reason,
                    evaluated_at=now, valid_until=valid_until)


def decide(facts: CheckFacts) -> Decision:
    """Answer one question from the facts alone."""
    route = RouteFacts(now=facts.now, agreements=facts.agreements, notices=facts.notices,
                       discloser_active=facts.discloser_active,
                       recipient_active=facts.recipient_active, permit_ttl=facts.permit_ttl)
    return decide_on_route(route, facts.categories, facts.consents)
