"""The reference data a check uses, cached per process and tagged with its generation."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent import engine
from consent.models import NoticeVersion, ReferenceGeneration, notice_version_agreements
from portal.reference.apikeys import KeyFact, key_fact
from portal.reference.models import (
    Agency,
    ApiClient,
    DataCategory,
    Purpose,
    SharingAgreement,
    agreement_categories,
)

Route = tuple[list[engine.AgreementFact], list[engine.NoticeFact]]


@dataclass
class RefData:
    """The reference data as of one generation (None: the generation is unknown)."""

    generation: int | None
    keys: dict[str, KeyFact]
    keys_by_client: dict[int, KeyFact]
    agencies: dict[str, tuple[int, bool]]
    agency_active: dict[int, bool]
    purposes: dict[str, int]
    categories: frozenset[str]
    agreements: dict[tuple[int, int, int], list[engine.AgreementFact]]
    notices: list[engine.NoticeFact]
    _routes: dict[tuple[int, int, int], Route] = field(default_factory=dict)

    def route(self, caller: int, to: int, purpose: int) -> Route:
        """The agreements on a route from the caller, and the notices covering any of them."""
        key = (caller, to, purpose)
        found = self._routes.get(key)
        if found is None:
            agreements = self.agreements.get(key, [])
            ids = {a.id for a in agreements}
            notices = [n for n in self.notices if any(ids & c for c in n.coverage.values())]
            found = self._routes[key] = (agreements, notices)
        return found


def load_refdata(session: Session) -> RefData:
    """Read every piece of reference data a check uses, tagged with its generation."""
    # The generation is read first: a change committed while loading makes the cache look
    # older than it is, so it is reloaded on the next check, never trusted when stale.
    generation = session.scalar(select(ReferenceGeneration.value))
    keys: dict[str, KeyFact] = {}
    keys_by_client: dict[int, KeyFact] = {}
    for c in session.execute(select(ApiClient.id, ApiClient.agency_id, ApiClient.key_hash,
                                    ApiClient.scopes, ApiClient.expires_at,
                                    ApiClient.revoked_at)):
        fact = key_fact(c.id, c.agency_id, c.scopes, c.expires_at, c.revoked_at)
        keys[c.key_hash] = keys_by_client[c.id] = fact
    agencies = {a.slug: (a.id, bool(a.active))
                for a in session.execute(select(Agency.slug, Agency.id, Agency.active))}
    purposes = {p.slug: p.id for p in session.execute(select(Purpose.slug, Purpose.id))}
    categories = frozenset(session.scalars(select(DataCategory.slug)))
    grouped: dict[int, dict[str, Any]] = {}
    for (aid, from_id, to_id, purpose_id, basis, gateway, vfrom, vto, retired, reference,
         cat) in session.execute(
            select(SharingAgreement.id, SharingAgreement.from_agency_id,
                   SharingAgreement.to_agency_id, SharingAgreement.purpose_id,
                   SharingAgreement.lawful_basis, SharingAgreement.statutory_gateway,
                   SharingAgreement.valid_from, SharingAgreement.valid_to,
                   SharingAgreement.retired_at, SharingAgreement.reference, DataCategory.slug)
            .join(agreement_categories,
                  agreement_categories.c.agreement_id == SharingAgreement.id)
            .join(DataCategory, DataCategory.id == agreement_categories.c.category_id)):
        entry = grouped.setdefault(aid, {"route": (from_id, to_id, purpose_id), "basis": basis,
                                         "gateway": gateway, "from": vfrom, "until": vto,
                                         "retired": retired is not None,
                                         "reference": reference, "cats": set()})
        entry["cats"].add(cat)
    agreements: dict[tuple[int, int, int], list[engine.AgreementFact]] = defaultdict(list)
    for aid, e in sorted(grouped.items()):
        agreements[e["route"]].append(engine.AgreementFact(
            id=aid, lawful_basis=e["basis"], categories=frozenset(e["cats"]),
            valid_from=e["from"], valid_to=e["until"], retired=e["retired"],
            statutory_gateway=e["gateway"], reference=e["reference"]))
    nva = notice_version_agreements
    coverage: dict[int, dict[int, set[int]]] = defaultdict(lambda: defaultdict(set))
    reconsent: dict[int, int] = {}
    for notice_id, version, status, requires_reconsent, agreement_id in session.execute(
            select(NoticeVersion.notice_id, NoticeVersion.version, NoticeVersion.status,
                   NoticeVersion.requires_reconsent, nva.c.agreement_id)
            .outerjoin(nva, nva.c.notice_version_id == NoticeVersion.id)
            .where(NoticeVersion.status.in_(("published", "retired")))):
        covered = coverage[notice_id][version]
        if agreement_id is not None:
            covered.add(agreement_id)
        if requires_reconsent and status == "published":
            reconsent[notice_id] = max(version, reconsent.get(notice_id, 0))
    notices = [engine.NoticeFact(id=nid, coverage={v: frozenset(a) for v, a in cov.items()},
                                 reconsent_from=reconsent.get(nid))
               for nid, cov in sorted(coverage.items())]
    return RefData(generation=generation, keys=keys, keys_by_client=keys_by_client,
                   agencies=agencies, agency_active=dict(agencies.values()),
                   purposes=purposes, categories=categories, agreements=dict(agreements),
                   notices=notices)
