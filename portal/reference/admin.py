"""Agency administration: an agency admin's API keys (created, shown once, revoked)."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from werkzeug.exceptions import NotFound as HTTPNotFound
from werkzeug.utils import redirect
from werkzeug.wrappers import Response as BaseResponse

from portal import database, forms
from portal.database import utcnow
from portal.errors import Conflict, DomainError
from portal.identity.models import Role
from portal.identity.sessions import staff_required
from portal.identity.staff import staff_actor
from portal.identity.staff_views import after_staff_request, current
from portal.reference import apikeys
from portal.reference.forms import ApiKeyForm
from portal.reference.models import ApiClient

bp = Blueprint("staff_admin", __name__, url_prefix="/staff/admin")
bp.after_request(after_staff_request)

SCOPE_LABELS = {
    "consent:check": _l("Ask the consent check"),
    "holdings:write": _l("Register and end holdings"),
    "sar:supply": _l("Supply records for subject access requests"),
}


def _keys() -> list[ApiClient]:
    return list(database.session().scalars(
        select(ApiClient).where(ApiClient.agency_id == current().agency_id)
        .order_by(ApiClient.created_at.desc())))


def _page(form: ApiKeyForm | None = None, errors: forms.Errors | None = None,
          new_key: str | None = None) -> tuple[str, int]:
    errors = errors or []
    return render_template("staff/api_keys.html", keys=_keys(), staff=current(),
                           scope_labels=SCOPE_LABELS, form_errors=errors, new_key=new_key,
                           form=form or ApiKeyForm(formdata=None), now=utcnow()), \
        (400 if errors else 200)


@bp.get("/api-keys")
@staff_required(Role.AGENCY_ADMIN)
def api_keys() -> tuple[str, int]:
    """The agency's API keys: scopes, expiry, last use, revocation."""
    return _page()


@bp.post("/api-keys")
@staff_required(Role.AGENCY_ADMIN)
def create_api_key() -> tuple[str, int]:
    """Create a key for the agency; the key is shown on this one page and never again."""
    staff = current()
    form = ApiKeyForm()
    if not form.validate():
        return _page(form, forms.errors_of(form))
    days = form.expires_days.data
    expires_at = utcnow() + dt.timedelta(days=int(days)) if days else None
    errors: forms.Errors = []
    try:
        _client, key = apikeys.create_api_key(database.session(), staff.agency.slug,
                                                 form.scopes.data, actor=staff_actor(staff),
                                                 name=form.name.data, expires_at=expires_at)
    except Conflict:
        forms.add(errors, "name", _("Your agency has been retired, so it cannot have new API "
                                    "keys"))
        return _page(form, errors)
    except DomainError:
        forms.add(errors, "scopes", _("Choose what the key may do"))
        return _page(form, errors)
    # A fresh form: the next key starts from nothing.
    return _page(new_key=key)


@bp.post("/api-keys/<int:client_id>/revoke")
@staff_required(Role.AGENCY_ADMIN)
def revoke_api_key(client_id: int) -> BaseResponse:
    """Revoke one of the agency's keys: the next request with it is refused."""
    staff = current()
    client = database.session().get(ApiClient, client_id)
    if client is None or client.agency_id != staff.agency_id:
        raise HTTPNotFound()
    apikeys.revoke_api_key(database.session(), client_id, actor=staff_actor(staff))
    return redirect(url_for("staff_admin.api_keys"))
