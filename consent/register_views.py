"""The partnership admin's download of the whole register (the format is consent.register's).

The page sits among the agency administration pages, on their blueprint, so its address and
endpoint are theirs; the export it serves is consent's.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

from flask import Response, current_app, render_template

from consent import register
from portal import audit, audit_head, database
from portal.database import utcnow
from portal.identity.models import Role
from portal.identity.sessions import staff_required
from portal.identity.staff import staff_actor
from portal.identity.staff_views import current
from portal.reference.admin import bp


@bp.get("/register")
@staff_required(Role.PARTNERSHIP_ADMIN)
def register_page() -> str:
    """The whole register, to download in open formats."""
    return render_template("staff/register.html", staff=current())


@bp.get("/register/export.zip")
@staff_required(Role.PARTNERSHIP_ADMIN)
def register_export() -> Response:
    """Download the whole register as a zip (the format is docs/register-format.md)."""
    staff = current()
    db = database.session()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "register"
        configured = current_app.config["PORTAL"].audit_signing_key
        # The partnership's key signs the export's head, so that it can be imported elsewhere.
        key = audit_head.load_private_key(configured) if configured else None
        manifest = register.export_register(db, folder, signing_key=key)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(folder.iterdir()):
                archive.write(path, arcname=f"register/{path.name}")
    audit.record(db, "register.export", staff_actor(staff), object_type="register",
                 details={"tables": manifest["tables"]})
    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    return Response(buffer.getvalue(), mimetype="application/zip", headers={
        "Content-Disposition": f'attachment; filename="register-{stamp}.zip"'})
