"""The Fenshire demo partnership: agencies, categories, purposes, agreements, notices, people."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent import operations as consent_ops
from consent.models import Notice, NoticeText, NoticeVersion
from portal.audit import Actor
from portal.database import utcnow
from portal.identity import claims
from portal.identity.models import Account
from portal.reference import apikeys, operations
from portal.reference.models import (
    Agency,
    ApiClient,
    DataCategory,
    Holding,
    Purpose,
    SharingAgreement,
)

DEMO_ACTOR = Actor("system", "demo-data")
DEMO_KEY_NAME = "demo key"
# The demo person a newcomer links a public account to, with the claim code demo-data prints.
CLAIM_DEMO_REF = "FP-DEMO-0001"
CHECK_BODY = ('{"subject": {"agency_ref": "FP-DEMO-0001"}, "recipient": "victim-care", '
              '"purpose": "victim-support-referral", '
              '"categories": ["contact-details", "incident-report"]}')

AGENCIES = [
    ("fenshire-police", "Fenshire Police", "police"),
    ("fenshire-city-council", "Fenshire City Council ASB Team", "council"),
    ("victim-care", "Victim Care Fenshire", "victim-service"),
    ("fen-housing", "Fen Housing Association", "housing"),
    ("fenshire-nhs", "Fenshire NHS Foundation Trust", "health"),
    ("fenshire-probation", "Fenshire Probation Delivery Unit", "probation"),
    ("fenshire-idva", "Fenshire IDVA Service", "idva"),
    ("fenshire-youth-justice", "Fenshire Youth Justice Service", "youth-justice"),
    ("fen-resolution-panel", "Fen Neighbourhood Resolution Panel", "resolution-panel"),
    ("fen-bid", "Fen City Business Crime Partnership", "business-crime"),
]

# Each agency as a controller: legal name, address, retention as the agency states it. Its
# DPO is reached at dpo@<slug>.example.
CONTROLLERS = {
    "fenshire-police": (
        "Chief Constable of Fenshire Police",
        "Police Headquarters, 1 Castle Street, Fenton FN1 1AA",
        "Crime and incident records are kept for at least 6 years and reviewed under the "
        "national guidance on police information (MoPI); victim contact notes for 2 years "
        "after the case closes."),
    "fenshire-city-council": (
        "Fenshire City Council", "Civic Centre, Market Square, Fenton FN1 2CC",
        "Anti-social behaviour case files are kept for 6 years after the case closes."),
    "victim-care": (
        "Victim Care Fenshire CIC", "2 Mill Yard, Fenton FN2 3VC",
        "Support records are kept for 3 years after support ends."),
    "fen-housing": (
        "Fen Housing Association Limited", "Fen House, 10 River Walk, Fenton FN3 4FH",
        "Tenancy and ASB records are kept for 6 years after the tenancy ends."),
    "fenshire-nhs": (
        "Fenshire NHS Foundation Trust", "Fenton General Hospital, Hospital Road, Fenton FN4 5NH",
        "Health records are kept for 8 years after the last treatment (adults) or until the "
        "25th birthday (children), as the NHS records management code says."),
    "fenshire-probation": (
        "Secretary of State for Justice (Probation Service)", "Probation Office, 4 Bridge Street, "
        "Fenton FN1 6PB", "Probation records are kept until the person's 100th birthday or for "
        "a period the Ministry of Justice's schedule sets."),
    "fenshire-idva": (
        "Fenshire Domestic Abuse Partnership", "PO Box 77, Fenton FN1 9ZZ",
        "Case records are kept for 6 years after the case closes."),
    "fenshire-youth-justice": (
        "Fenshire County Council (Youth Justice Service)", "County Hall, Fenton FN1 7YJ",
        "Youth justice records are kept until the person's 25th birthday, or 6 years after "
        "the last intervention if later."),
    "fen-resolution-panel": (
        "Fen Neighbourhood Resolution Panel (a charity)", "Community Hub, 8 Green Lane, "
        "Fenton FN5 8RP", "Case notes are kept for 1 year after the resolution meeting."),
    "fen-bid": (
        "Fen City Business Improvement District Limited", "BID Office, 3 High Street, "
        "Fenton FN1 3BD", "Incident reports are kept for 2 years, exclusion notices for "
        "the exclusion's term."),
}

# slug, name, special category (Art 9), criminal offence (Art 10)
CATEGORIES = [
    ("identity", "Name and date of birth", False, False),
    ("contact-details", "Contact details", False, False),
    ("safe-contact", "Safe contact method", False, False),
    ("incident-report", "Incident reports", False, False),
    ("case-notes", "Case notes", False, False),
    ("health", "Health information", True, False),
    ("criminal-offence", "Criminal offence data", False, True),
    ("images", "Images and CCTV", False, False),
    ("household", "Household members", False, False),
    ("housing-tenancy", "Housing tenancy", False, False),
]

PURPOSES = [
    ("victim-support-referral", "Referral for victim support"),
    ("asb-case-management", "Anti-social behaviour case management"),
    ("safeguarding", "Safeguarding children and adults at risk"),
    ("domestic-abuse-risk", "Domestic abuse risk management"),
    ("offender-management", "Offender management"),
    ("restorative-justice", "Restorative justice"),
    ("business-crime-exclusion", "Business crime exclusion schemes"),
]

# reference, from, to, purpose, basis, gateway, Art 9 condition, categories
AGREEMENTS = [
    ("FEN-ISA-001", "fenshire-police", "victim-care", "victim-support-referral", "consent",
     "", "", ["contact-details", "incident-report"]),
    ("FEN-ISA-002", "fenshire-police", "fen-resolution-panel", "restorative-justice",
     "consent", "", "", ["contact-details", "incident-report", "case-notes"]),
    ("FEN-ISA-003", "fenshire-police", "fenshire-idva", "domestic-abuse-risk", "consent",
     "", "", ["identity", "contact-details", "incident-report", "case-notes"]),
    ("FEN-ISA-004", "fenshire-police", "fenshire-city-council", "asb-case-management",
     "public-task", "Crime and Disorder Act 1998 s115", "",
     ["identity", "incident-report", "case-notes"]),
    ("FEN-ISA-005", "fenshire-city-council", "fen-housing", "asb-case-management",
     "public-task", "Crime and Disorder Act 1998 s115", "",
     ["identity", "incident-report", "housing-tenancy"]),
    ("FEN-ISA-006", "fenshire-police", "fenshire-nhs", "safeguarding", "public-task",
     "Children Act 2004 s11; Care Act 2014 s45",
     "DPA 2018 Sch 1 para 18 (safeguarding of children and individuals at risk)",
     ["identity", "contact-details", "incident-report", "health"]),
    ("FEN-ISA-007", "fenshire-police", "fenshire-probation", "offender-management",
     "law-enforcement", "DPA 2018 Part 3 s31; Criminal Justice Act 2003 s325", "",
     ["identity", "criminal-offence", "case-notes"]),
    ("FEN-ISA-008", "fenshire-police", "fen-bid", "business-crime-exclusion", "public-task",
     "Crime and Disorder Act 1998 s115", "", ["images", "criminal-offence"]),
    ("FEN-ISA-009", "fenshire-police", "fenshire-youth-justice", "offender-management",
     "law-enforcement", "Crime and Disorder Act 1998 s38 and s39", "",
     ["identity", "criminal-offence", "case-notes"]),
]

NOTICES: list[dict[str, Any]] = [
    {"slug": "victim-support-referral", "versions": [
        {"version": 1, "agreements": ["FEN-ISA-001"], "reconsent": False, "texts": {
            "en": ("Passing your details to Victim Care",
                   "Fenshire Police would give Victim Care Fenshire your contact details and "
                   "what you told us about what happened, so that they can offer you free, "
                   "confidential support.",
                   "If you say no, the police still investigate and you can contact Victim "
                   "Care yourself at any time."),
            "cy": ("Rhannu eich manylion â Gofal Dioddefwyr",
                   "Byddai Heddlu Fenshire yn rhoi eich manylion cyswllt i Ofal Dioddefwyr "
                   "Fenshire, a'r hyn a ddywedoch wrthym am yr hyn a ddigwyddodd, er mwyn "
                   "iddynt gynnig cymorth cyfrinachol am ddim i chi.",
                   "Os dywedwch na, bydd yr heddlu'n dal i ymchwilio a gallwch gysylltu â "
                   "Gofal Dioddefwyr eich hun unrhyw bryd."),
            "pl": ("Przekazanie Twoich danych do Victim Care",
                   "Policja Fenshire przekazałaby Victim Care Fenshire Twoje dane kontaktowe i "
                   "to, co nam powiedziałeś o zdarzeniu, aby mogli zaoferować Ci bezpłatne, "
                   "poufne wsparcie.",
                   "Jeśli odmówisz, policja nadal prowadzi sprawę, a Ty możesz w każdej chwili "
                   "sam skontaktować się z Victim Care."),
        }},
    ]},
    {"slug": "restorative-justice", "versions": [
        {"version": 1, "agreements": ["FEN-ISA-002"], "reconsent": False, "texts": {
            "en": ("Taking part in neighbourhood resolution",
                   "Fenshire Police would share your contact details, the incident report and "
                   "case notes with the Fen Neighbourhood Resolution Panel, whose trained "
                   "volunteers may offer a meeting to put things right.",
                   "If you say no, nothing else about your case changes."),
        }},
    ]},
    {"slug": "idva-referral", "versions": [
        {"version": 1, "agreements": ["FEN-ISA-003"], "reconsent": False, "texts": {
            "en": ("Referral to an independent domestic violence adviser",
                   "Fenshire Police would share your name, contact details and the incident "
                   "with the Fenshire IDVA Service so an adviser can contact you.",
                   "If you say no, you can still contact the IDVA Service yourself."),
        }},
        {"version": 2, "agreements": ["FEN-ISA-003"], "reconsent": True, "texts": {
            "en": ("Referral to an independent domestic violence adviser",
                   "Fenshire Police would share your name, contact details, the incident and "
                   "case notes with the Fenshire IDVA Service so an adviser can contact you "
                   "safely, using only the safe contact method you choose.",
                   "If you say no, you can still contact the IDVA Service yourself."),
        }},
    ]},
]

# ref, given, family, date of birth, preferred language, safe contact, story
SUBJECTS = [
    ("FP-DEMO-0001", "Alex", "Rivera", dt.date(1988, 4, 12), "en", "",
     "gave consent to Victim Care referral (permit)"),
    ("FP-DEMO-0002", "Sam", "Okafor", dt.date(1975, 9, 30), "en", "",
     "gave, then withdrew, Victim Care referral (deny: withdrawn)"),
    ("FP-DEMO-0003", "Jordan", "Price", dt.date(1992, 1, 5), "cy", "",
     "gave Victim Care referral over a year ago (deny: expired)"),
    ("FP-DEMO-0004", "Morgan", "Lee", dt.date(1990, 6, 21), "en",
     "Do not phone. Text only, to the mobile number held by the IDVA service.",
     "gave IDVA referral v1; v2 needs re-consent (deny: reconsent_required)"),
    ("FP-DEMO-0005", "Casey", "Walsh", dt.date(2015, 3, 2), "en", "",
     "child, consented by a parent for restorative justice (permit)"),
    ("FP-DEMO-0006", "Taylor", "Nguyen", dt.date(1983, 11, 17), "pl", "",
     "refused Victim Care referral (deny: refused)"),
]


@dataclass
class Summary:
    """What seeding did."""

    created: list[str] = field(default_factory=list)
    subjects: list[tuple[str, str, str]] = field(default_factory=list)


def _get_or_create(session: Session, model: Any, slug: str, **values: Any) -> Any:
    found = session.scalar(select(model).where(model.slug == slug))
    if found is None:
        found = model(slug=slug, **values)
        session.add(found)
        session.flush()
    return found


def seed(session: Session) -> Summary:
    """Create whatever part of the demo partnership is missing (safe to run again)."""
    summary = Summary()
    epoch = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    agencies = {slug: _get_or_create(session, Agency, slug, name=name, kind=kind,
                                     sar_contact=f"dataprotection@{slug}.example")
                for slug, name, kind in AGENCIES}
    for slug, agency in agencies.items():
        # Only what an admin has not set: the demo never overwrites an agency's own words.
        legal, address, retention = CONTROLLERS[slug]
        agency.controller_name = agency.controller_name or legal
        agency.controller_address = agency.controller_address or address
        agency.dpo_contact = agency.dpo_contact or f"dpo@{slug}.example"
        agency.retention_statement = agency.retention_statement or retention
    cats = {slug: _get_or_create(session, DataCategory, slug, name=name, special_category=sc,
                                 criminal_offence=co) for slug, name, sc, co in CATEGORIES}
    purposes = {slug: _get_or_create(session, Purpose, slug, name=name)
                for slug, name in PURPOSES}
    agreements: dict[str, SharingAgreement] = {}
    for ref, src, dst, purpose, basis, gateway, art9, cat_slugs in AGREEMENTS:
        agreement = session.scalar(select(SharingAgreement)
                                   .where(SharingAgreement.reference == ref))
        if agreement is None:
            agreement = SharingAgreement(
                reference=ref, title=f"{agencies[src].name} to {agencies[dst].name}: "
                                     f"{purposes[purpose].name}",
                from_agency=agencies[src], to_agency=agencies[dst],
                purpose=purposes[purpose], lawful_basis=basis, statutory_gateway=gateway,
                art9_condition=art9, valid_from=epoch,
                categories=[cats[c] for c in cat_slugs])
            session.add(agreement)
            summary.created.append(f"agreement {ref}")
        agreements[ref] = agreement
    session.flush()
    versions: dict[tuple[str, int], NoticeVersion] = {}
    for spec in NOTICES:
        notice = _get_or_create(session, Notice, spec["slug"])
        for v in spec["versions"]:
            version = session.scalar(select(NoticeVersion).where(
                NoticeVersion.notice_id == notice.id, NoticeVersion.version == v["version"]))
            if version is None:
                version = NoticeVersion(
                    notice=notice, version=v["version"], status="published",
                    requires_reconsent=v["reconsent"], validity_days=365,
                    published_at=epoch + dt.timedelta(days=30 * (v["version"] - 1)),
                    agreements=[agreements[a] for a in v["agreements"]])
                session.add(version)
                for lang, (title, body, if_no) in v["texts"].items():
                    session.add(NoticeText(version=version, language=lang, title=title,
                                           body=body, if_you_say_no=if_no))
                summary.created.append(f"notice {spec['slug']} v{v['version']}")
            versions[(spec["slug"], v["version"])] = version
    session.flush()
    police = agencies["fenshire-police"]
    officer = Actor("system", "demo-data", police.id)
    now = utcnow()
    for ref, given, family, dob, lang, safe, story in SUBJECTS:
        holding = session.scalar(select(Holding).where(Holding.agency_id == police.id,
                                                       Holding.agency_ref == ref))
        if holding is None:
            new = operations.NewSubject(given_name=given, family_name=family,
                                        date_of_birth=dob, preferred_language=lang,
                                        safe_contact=safe,
                                        email=f"{given.lower()}.{family.lower()}@example.org")
            holding, _ = operations.put_holding(
                session, police.id, ref, categories=["identity", "contact-details",
                                                     "incident-report"],
                since=dt.date(2026, 2, 1), actor=officer, new_subject=new)
            _story(session, ref, holding.subject_id, versions, officer, now)
            summary.created.append(f"subject {ref}")
        summary.subjects.append((ref, str(holding.subject_id), story))
    return summary


def _story(session: Session, ref: str, subject_id: Any,
           versions: dict[tuple[str, int], NoticeVersion], actor: Actor,
           now: dt.datetime) -> None:
    vsr = versions[("victim-support-referral", 1)]
    common: dict[str, Any] = {
        "actor": actor, "method": "first-contact", "expressed_by": "staff-assisted",
        "evidence": {"typed_name": "demo", "witness": "PC 1234 (demo)"}}
    if ref == "FP-DEMO-0001":
        consent_ops.give(session, subject_id, vsr.id, **common)
    elif ref == "FP-DEMO-0002":
        consent_ops.give(session, subject_id, vsr.id, occurred_at=now - dt.timedelta(days=20),
                         **common)
        consent_ops.withdraw(session, subject_id, vsr.notice_id, actor=actor, method="phone",
                             expressed_by="staff-assisted")
    elif ref == "FP-DEMO-0003":
        consent_ops.give(session, subject_id, vsr.id, occurred_at=now - dt.timedelta(days=400),
                         **common)
    elif ref == "FP-DEMO-0004":
        consent_ops.give(session, subject_id, versions[("idva-referral", 1)].id, **common)
    elif ref == "FP-DEMO-0005":
        consent_ops.give(session, subject_id, versions[("restorative-justice", 1)].id,
                         actor=actor, method="first-contact", expressed_by="guardian",
                         guardian_name="Jamie Walsh", guardian_relationship="mother",
                         evidence={"typed_name": "Jamie Walsh", "witness": "PC 1234 (demo)"})
    elif ref == "FP-DEMO-0006":
        consent_ops.refuse(session, subject_id, vsr.id, **common)


def fresh_demo_key(session: Session) -> tuple[ApiClient, str]:
    """Revoke earlier demo keys and create a new one (keys are stored only as hashes)."""
    police = operations.agency_by_slug(session, "fenshire-police")
    for old in session.scalars(select(ApiClient).where(ApiClient.agency_id == police.id,
                                                       ApiClient.name == DEMO_KEY_NAME,
                                                       ApiClient.revoked_at.is_(None))):
        apikeys.revoke_api_key(session, old.id, actor=DEMO_ACTOR)
    return apikeys.create_api_key(session, "fenshire-police",
                                     ["consent:check", "holdings:write"], actor=DEMO_ACTOR,
                                     name=DEMO_KEY_NAME)


def fresh_claim_code(session: Session) -> str | None:
    """A new claim code for the demo person (earlier unused ones stop working), or None when an
    account is already linked to them (a person's records link to one account only)."""
    police = operations.agency_by_slug(session, "fenshire-police")
    subject_id = session.scalar(select(Holding.subject_id).where(
        Holding.agency_id == police.id, Holding.agency_ref == CLAIM_DEMO_REF,
        Holding.ended_at.is_(None)))
    if subject_id is None or session.scalar(
            select(Account.id).where(Account.subject_id == subject_id)) is not None:
        return None
    _claim, code = claims.reissue(session, subject_id, actor=DEMO_ACTOR)
    return code


def banner(url: str, key: str, *, claim_code: str | None, already_linked: bool,
           mail: str) -> str:
    """The block ``make demo`` ends with: where to go, the key, the claim code, the curl."""
    url = url.rstrip("/")
    rule = "=" * 78
    lines = [rule, f"The demo portal:  {url}", "",
             "Demo API key for fenshire-police (scopes consent:check holdings:write):",
             f"  {key}", ""]
    if claim_code is not None:
        lines += [f"Claim code for {CLAIM_DEMO_REF}, to link a public account to their records:",
                  f"  {claim_code}",
                  f"  1. register at {url}/account/register",
                  f"  2. open the link in the confirmation email ({mail})",
                  f"  3. sign in and enter the code at {url}/my/link", ""]
    elif already_linked:
        lines += [f"{CLAIM_DEMO_REF} is already linked to a public account: sign in with it.", ""]
    lines += ["Staff back office: .venv/bin/flask --app portal.app staff demo-users prints the",
              f"  demo staff's sign-in details; sign in at {url}/staff/sign-in", "",
              "Try the consent check:",
              f"  curl -s -X POST {url}/api/v1/consent/check \\",
              f"    -H 'Authorization: Bearer {key}' \\",
              "    -H 'Content-Type: application/json' \\",
              f"    -d '{CHECK_BODY}'",
              rule]
    return "\n".join(lines)


def describe(summary: Summary) -> str:
    """A human summary of the demo people to try."""
    lines = [f"Demo partnership ready ({len(summary.created)} records created this run).",
             "Example subjects held by fenshire-police:"]
    lines += [f"  {ref}  {story}" for ref, _sid, story in summary.subjects]
    return "\n".join(lines)
