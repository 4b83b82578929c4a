"""The check engine, exhaustively: every basis, consent state, expiry, version and coverage."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent import engine
from consent.engine import AgreementFact, CheckFacts, ConsentFact, NoticeFact, Reason

NOW = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)
EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
BASES = ["consent", "public-task", "legal-obligation", "vital-interests", "law-enforcement"]
EVENTS = [None, "given", "renewed", "withdrawn", "refused", "expired"]


def agreement(basis: str = "consent", cats: tuple[str, ...] = ("contact-details",),
              **kw: object) -> AgreementFact:
    return AgreementFact(id=kw.pop("id", 1), lawful_basis=basis,  # type: ignore[arg-type]
                         categories=frozenset(cats),
                         valid_from=kw.pop("valid_from", EPOCH), **kw)  # type: ignore[arg-type]


def notice(covers: dict[int, set[int]] | None = None, reconsent_from: int | None = None
           ) -> NoticeFact:
    cov = covers or {1: {1}}
    return NoticeFact(id=10, coverage={v: frozenset(a) for v, a in cov.items()},
                      reconsent_from=reconsent_from)


def consent(event: str = "given", version: int = 1,
            valid_until: dt.datetime | None = None) -> ConsentFact:
    return ConsentFact(notice_id=10, event_type=event, event_id="c-1", notice_version=version,
                       valid_until=valid_until)


def facts(**kw: object) -> CheckFacts:
    base: dict[str, object] = {"now": NOW, "categories": ["contact-details"],
                               "agreements": [agreement()], "notices": [notice()],
                               "consents": {10: consent()}}
    base.update(kw)
    return CheckFacts(**base)  # type: ignore[arg-type]


def test_given_consent_to_a_covering_version_permits() -> None:
    d = engine.decide(facts())
    assert d.permit and d.basis == "consent"
    cat = d.categories["contact-details"]
    assert cat.consent_id == "c-1" and cat.notice_version == 1
    assert d.valid_until == NOW + dt.timedelta(seconds=60)


@pytest.mark.parametrize(("event", "reason"), [
    (None, Reason.NO_CONSENT), ("withdrawn", Reason.WITHDRAWN), ("refused", Reason.REFUSED),
    ("expired", Reason.EXPIRED)])
def test_each_non_consenting_state_denies_with_its_reason(event: str | None,
                                                          reason: Reason) -> None:
    consents = {} if event is None else {10: consent(event)}
    d = engine.decide(facts(consents=consents))
    assert not d.permit and d.reason == reason
    assert d.valid_until == NOW


def test_a_consent_past_its_validity_is_expired_even_without_an_expiry_event() -> None:
    d = engine.decide(facts(consents={10: consent(valid_until=NOW)}))
    assert d.reason == Reason.EXPIRED
    d = engine.decide(facts(consents={10: consent(valid_until=NOW + dt.timedelta(seconds=1))}))
    assert d.permit and d.valid_until == NOW + dt.timedelta(seconds=1)


def test_a_version_that_does_not_cover_the_agreement_gives_no_consent() -> None:
    d = engine.decide(facts(notices=[notice({1: set(), 2: {1}})]))
    assert d.reason == Reason.NO_CONSENT


def test_material_change_requires_reconsent_but_a_minor_one_does_not() -> None:
    cov = {1: {1}, 2: {1}}
    assert engine.decide(facts(notices=[notice(cov, reconsent_from=2)])).reason \
        == Reason.RECONSENT_REQUIRED
    assert engine.decide(facts(notices=[notice(cov, reconsent_from=None)])).permit
    assert engine.decide(facts(notices=[notice(cov, reconsent_from=2)],
                               consents={10: consent(version=2)})).permit


@pytest.mark.parametrize("basis", [b for b in BASES if b != "consent"])
@pytest.mark.parametrize("event", EVENTS)
def test_statutory_basis_permits_and_never_consults_consent(basis: str, event: str | None) -> None:
    consents = {} if event is None else {10: consent(event)}
    gate = "Crime and Disorder Act 1998 s115"
    d = engine.decide(facts(agreements=[agreement(basis, statutory_gateway=gate)],
                            consents=consents))
    assert d.permit and d.basis == basis
    assert d.categories["contact-details"].statutory_gateway == gate
    assert d.categories["contact-details"].consent_id is None


def test_category_outside_the_agreement_is_denied_and_denies_the_whole() -> None:
    d = engine.decide(facts(categories=["contact-details", "health"]))
    assert not d.permit
    assert d.categories["contact-details"].permit
    assert d.categories["health"].reason == Reason.CATEGORY_NOT_IN_AGREEMENT
    assert d.reason == Reason.CATEGORY_NOT_IN_AGREEMENT


def test_no_agreement_in_force() -> None:
    assert engine.decide(facts(agreements=[])).reason == Reason.NO_AGREEMENT
    later = agreement(valid_from=NOW + dt.timedelta(days=1))
    assert engine.decide(facts(agreements=[later])).reason == Reason.NO_AGREEMENT
    ended = agreement(valid_to=NOW)
    assert engine.decide(facts(agreements=[ended])).reason == Reason.NO_AGREEMENT
    retired = agreement(retired=True)
    assert engine.decide(facts(agreements=[retired])).reason == Reason.NO_AGREEMENT


def test_inactive_agency_denies_even_statutory_sharing() -> None:
    for kw in ({"discloser_active": False}, {"recipient_active": False}):
        d = engine.decide(facts(agreements=[agreement("public-task")], **kw))
        assert d.reason == Reason.AGENCY_INACTIVE and not d.permit


def test_mixed_bases_permit_with_no_single_basis() -> None:
    agreements = [agreement("consent", ("contact-details",), id=1),
                  agreement("public-task", ("incident-report",), id=2)]
    d = engine.decide(facts(agreements=agreements,
                            categories=["contact-details", "incident-report"]))
    assert d.permit and d.basis is None


def test_permit_lasts_no_longer_than_the_agreement() -> None:
    ends = NOW + dt.timedelta(seconds=5)
    d = engine.decide(facts(agreements=[agreement(valid_to=ends)]))
    assert d.permit and d.valid_until == ends


def test_withdrawn_is_the_reason_named_over_other_notices_without_consent() -> None:
    other = NoticeFact(id=11, coverage={1: frozenset({1})})
    d = engine.decide(facts(notices=[other, notice()], consents={10: consent("withdrawn")}))
    assert d.reason == Reason.WITHDRAWN


@given(
    basis=st.sampled_from(BASES),
    event=st.sampled_from(EVENTS),
    version=st.integers(1, 3),
    covered_versions=st.sets(st.integers(1, 3)),
    reconsent_from=st.one_of(st.none(), st.integers(1, 3)),
    expiry_offset=st.one_of(st.none(), st.integers(-3600, 3600)),
    categories=st.lists(st.sampled_from(["contact-details", "incident-report", "health"]),
                        min_size=1, max_size=3, unique=True),
    agreement_cats=st.sets(st.sampled_from(["contact-details", "incident-report", "health"]),
                           min_size=1),
    in_force=st.booleans(),
    active=st.booleans(),
)
def test_engine_matches_the_rules_for_every_combination(
        basis: str, event: str | None, version: int, covered_versions: set[int],
        reconsent_from: int | None, expiry_offset: int | None, categories: list[str],
        agreement_cats: set[str], in_force: bool, active: bool) -> None:
    valid_until = None if expiry_offset is None else NOW + dt.timedelta(seconds=expiry_offset)
    a = agreement(basis, tuple(agreement_cats),
                  valid_to=None if in_force else NOW - dt.timedelta(seconds=1))
    n = notice({v: ({1} if v in covered_versions else set()) for v in (1, 2, 3)},
               reconsent_from)
    consents = {} if event is None else {10: consent(event, version, valid_until)}
    d = engine.decide(facts(agreements=[a], notices=[n], consents=consents,
                            categories=categories, recipient_active=active))
    consent_ok = (event in {"given", "renewed"}
                  and (valid_until is None or valid_until > NOW)
                  and (reconsent_from is None or version >= reconsent_from)
                  and version in covered_versions)
    for c in categories:
        cat_ok = active and in_force and c in agreement_cats and (
            basis != "consent" or consent_ok)
        assert d.categories[c].permit is cat_ok
    assert d.permit is all(d.categories[c].permit for c in categories)
    if d.permit:
        assert NOW <= d.valid_until <= NOW + dt.timedelta(seconds=60)
        assert d.reason is None
    else:
        assert d.valid_until == NOW and d.reason is not None


def test_exhaustive_small_grid_never_permits_without_a_basis() -> None:
    for basis, event, covered in itertools.product(BASES, EVENTS, [True, False]):
        n = notice({1: {1} if covered else set()})
        consents = {} if event is None else {10: consent(event)}
        d = engine.decide(facts(agreements=[agreement(basis)], notices=[n], consents=consents))
        if d.permit and basis == "consent":
            assert event in {"given", "renewed"} and covered


@given(st.permutations([agreement(id=1), agreement("public-task", id=2),
                        agreement(id=3, cats=("contact-details", "health"))]),
       st.permutations([NoticeFact(id=10, coverage={1: frozenset({1, 3})}),
                        NoticeFact(id=11, coverage={1: frozenset({3})}),
                        NoticeFact(id=12, coverage={1: frozenset()})]),
       st.sampled_from(EVENTS), st.sampled_from(EVENTS))
def test_the_order_the_facts_come_in_does_not_change_the_answer(
        agreements: list[AgreementFact], notices: list[NoticeFact], first: str | None,
        second: str | None) -> None:
    # Given agreements and notices in any order (the engine consults them by id)
    consents = {nid: ConsentFact(notice_id=nid, event_type=event, event_id=f"c-{nid}",
                                 notice_version=1)
                for nid, event in ((10, first), (11, second)) if event is not None}
    cats = ["contact-details", "health"]
    # When it decides
    d = engine.decide(facts(agreements=agreements, notices=notices, consents=consents,
                            categories=cats))
    # Then the answer is the one for the facts in order of id
    in_order = engine.decide(facts(agreements=sorted(agreements, key=lambda a: a.id),
                                   notices=sorted(notices, key=lambda n: n.id),
                                   consents=consents, categories=cats))
    assert d == in_order
    # and the statutory agreement (id 2) never answers for contact details, which the route
    # also shares on consent: only a consent permits it (a refusal stays a deny),
    # and of two notices whose consents both cover health, the first by id answers
    assert d.categories["contact-details"].basis != "public-task"
    if not {first, second} & {"given", "renewed"}:
        assert not d.categories["contact-details"].permit
    if first in {"given", "renewed"}:
        assert d.categories["health"].consent_id == "c-10"


def test_a_notice_knows_every_agreement_any_of_its_versions_covers() -> None:
    n = NoticeFact(id=10, coverage={1: frozenset({1, 2}), 2: frozenset({5}), 3: frozenset()})
    assert n.covers == frozenset({1, 2, 5})
    assert NoticeFact(id=11, coverage={}).covers == frozenset()


CATS = ["contact-details", "incident-report", "health"]
ROUTE_AGREEMENTS = [agreement(id=1, cats=("contact-details", "incident-report")),
                    agreement("public-task", id=2, cats=("incident-report",)),
                    agreement(id=3, cats=("contact-details", "health"),
                              valid_to=NOW + dt.timedelta(seconds=30)),
                    agreement(id=4, cats=("health",), valid_to=NOW)]
ROUTE_NOTICES = [NoticeFact(id=10, coverage={1: frozenset({1, 3}), 2: frozenset({1})},
                            reconsent_from=2),
                 NoticeFact(id=11, coverage={1: frozenset({3})})]
# A person's latest consent per notice (none, one or both).
person = st.lists(
    st.tuples(st.sampled_from([10, 11]), st.sampled_from(EVENTS[1:]), st.integers(1, 2),
              st.one_of(st.none(), st.integers(-10, 120))),
    max_size=2, unique_by=lambda t: t[0]).map(lambda events: {
        n: ConsentFact(notice_id=n, event_type=event, event_id=f"c-{n}-{version}",
                       notice_version=version,
                       valid_until=None if offset is None else NOW + dt.timedelta(seconds=offset))
        for n, event, version, offset in events})


@given(questions=st.lists(st.tuples(st.lists(st.sampled_from(CATS), max_size=3, unique=True),
                                    person), min_size=1, max_size=8),
       agreements=st.permutations(ROUTE_AGREEMENTS), notices=st.permutations(ROUTE_NOTICES),
       discloser_active=st.booleans(), recipient_active=st.booleans())
def test_questions_sharing_a_route_get_the_answers_each_would_alone(
        questions: list[tuple[list[str], dict[int, ConsentFact]]],
        agreements: list[AgreementFact], notices: list[NoticeFact], discloser_active: bool,
        recipient_active: bool) -> None:
    # Given one route, as a batch decides each of its questions on it
    route = engine.RouteFacts(now=NOW, agreements=agreements, notices=notices,
                              discloser_active=discloser_active,
                              recipient_active=recipient_active)
    for categories, consents in questions:
        # When a question is answered on the shared route
        shared = engine.decide_on_route(route, categories, consents)
        # Then the answer is the one the question gets from its facts alone
        assert shared == engine.decide(CheckFacts(
            now=NOW, categories=categories, agreements=agreements, notices=notices,
            consents=consents, discloser_active=discloser_active,
            recipient_active=recipient_active))


def test_a_route_is_not_changed_by_changing_the_lists_it_was_made_from() -> None:
    # Given a route made from lists the caller keeps
    agreements, notices = [agreement()], [notice()]
    route = engine.RouteFacts(now=NOW, agreements=agreements, notices=notices)
    # When the caller empties them
    agreements.clear()
    notices.clear()
    # Then the route still decides on what it was given
    assert engine.decide_on_route(route, ["contact-details"], {10: consent()}).permit


# A changed lawful basis never turns a refusal or a withdrawal into a permit, and no sequence
# of edits widens what a consent permits: the engine holds both even on facts an admin rule
# should have stopped (data from before the rule, or written around it).

@pytest.mark.parametrize("event", ["refused", "withdrawn", None])
@pytest.mark.parametrize("statutory", ["legitimate-interests", "public-task"])
def test_a_statutory_version_of_a_consent_agreement_never_permits_a_refusal(
        event: str | None, statutory: str) -> None:
    # Given consent agreement 1, superseded by version 2 on another basis, both covered by
    # the notice version the person answered
    v1 = agreement(id=1, retired=True, reference="FEN-ISA-010")
    v2 = agreement(statutory, id=2, reference="FEN-ISA-010")
    consents = {} if event is None else {10: consent(event)}
    # When the route is asked about
    d = engine.decide(facts(agreements=[v1, v2], notices=[notice({1: {1, 2}})],
                            consents=consents))
    # Then the answer is still the person's: a deny
    assert not d.permit and d.reason == (Reason(event) if event else Reason.NO_CONSENT)
    # And a consent still permits, on consent
    d = engine.decide(facts(agreements=[v1, v2], notices=[notice({1: {1, 2}})]))
    assert d.permit and d.basis == "consent"


def test_a_new_statutory_agreement_on_a_consent_route_does_not_permit_its_categories() -> None:
    # Given a route that shares contact details on consent (even retired), and a new
    # public-task agreement on it for contact details and incident reports
    consent_based = agreement(id=1, retired=True, reference="A")
    by_law = agreement("public-task", id=2, cats=("contact-details", "incident-report"),
                       reference="B")
    d = engine.decide(facts(agreements=[consent_based, by_law], consents={10: consent("refused")},
                            categories=["contact-details", "incident-report"]))
    # Then contact details stay consent-based (denied), incident reports are shared by law
    assert not d.categories["contact-details"].permit
    assert d.categories["incident-report"].permit
    assert d.categories["incident-report"].basis == "public-task"


def test_a_consent_permits_only_what_every_covered_version_listed() -> None:
    # Given version 1 (contact details), widened by a detour through another basis to
    # version 3 (contact details and case notes), all covered by notice version 1
    lineage = [agreement(id=1, retired=True, reference="R"),
               agreement("legitimate-interests", id=2, retired=True, reference="R",
                         cats=("contact-details", "case-notes")),
               agreement(id=3, reference="R", cats=("contact-details", "case-notes"))]
    n = notice({1: {1, 2, 3}, 2: {3}})
    # When a consent to version 1 is asked about both
    d = engine.decide(facts(agreements=lineage, notices=[n],
                            categories=["contact-details", "case-notes"]))
    # Then only what version 1 listed is permitted
    assert d.categories["contact-details"].permit
    assert d.categories["case-notes"].reason == Reason.NO_CONSENT
    # And a consent to notice version 2, whose text covers version 3 only, permits both
    d = engine.decide(facts(agreements=lineage, notices=[n], consents={10: consent(version=2)},
                            categories=["contact-details", "case-notes"]))
    assert d.permit and d.basis == "consent"
