"""The kernel's signals: where an area above tells the others what happened, or answers for
its own records, without the one below importing it (Indico's pattern, on blinker).

Receivers connect when their module is imported; the composition root (portal.app) imports
each area's receivers, so every app has them all.
"""

from __future__ import annotations

from typing import Any

from blinker import Namespace

_signals = Namespace()

email_wording_changed = _signals.signal("email-wording-changed", doc="""
An account's email wording changed. Sent with the session, ``account_id`` and ``wording``;
every area keeping its own copy of the choice (a SAR request remembers its filer's) updates
it in the same transaction.""")

holding_registered = _signals.signal("holding-registered", doc="""
An agency registered (or registered again, after ending) a holding about a person, from any
path: first contact, the holdings API, an admin. Sent with the session, ``subject_id``,
``agency_id`` and ``actor``; an area with open work about the person (a subject access
request whose clock runs) adds the agency's part in the same transaction.""")

person_request_views = _signals.signal("person-request-views", doc="""
The staff views of the person's requests in other areas, for their activity page and their
download. Sent with the session, ``subject_id``, ``limit`` and ``offset``; each receiver
returns its entries, newest first.""")


def values_from(results: list[tuple[Any, Any]]) -> list[Any]:
    """The receivers' answers to a signal, in the order they connected, flattened."""
    return [item for _receiver, value in results for item in value]
