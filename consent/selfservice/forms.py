"""The person's consent pages' forms."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from wtforms import StringField
from wtforms.validators import DataRequired, Length, Regexp

from portal.identity.forms import _Form

CLAIM_PATTERN = re.compile(r"^[A-Za-z0-9\s-]{1,40}$")


class ClaimForm(_Form):
    """The code from a first-contact receipt."""

    code = StringField(validators=[
        DataRequired(_l("Enter the code from your receipt")),
        Length(max=40, message=_l("The code must be 40 characters or fewer")),
        Regexp(CLAIM_PATTERN.pattern,
               message=_l("The code can only contain letters, numbers and dashes")),
    ])
