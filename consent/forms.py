"""Forms of consent's staff pages (CSRF is checked for every form by CSRFProtect)."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import Field
from wtforms.validators import ValidationError

from consent.agreements import REFERENCE
from portal import forms
from portal.reference.models import LawfulBasis

# --- sharing agreements ---------------------------------------------------------------------

# What the form says of each problem the agreement's checks or its operations find.
AGREEMENT_MESSAGES = {
    "reference-format": _l("The reference may contain only capital letters, digits and single "
                           "hyphens, like FEN-ISA-010"),
    "reference-taken": _l("That reference is already used by another agreement"),
    "agency-unknown": _l("Choose an agency that has not been retired"),
    "same-agency": _l("Choose a different agency to share with: an agency cannot share with "
                      "itself"),
    "purpose-unknown": _l("Choose a purpose that has not been retired"),
    "basis-unknown": _l("Choose the lawful basis"),
    "gateway-required": _l("Enter the statutory gateway: this lawful basis rests on a law, so "
                           "name the law"),
    "art9-required": _l("Enter the Article 9 condition: a chosen category is special category "
                        "data"),
    "dates-order": _l("The end date must be after the start date"),
    "categories-required": _l("Choose at least one data category"),
    "category-unknown": _l("Choose only data categories that have not been retired"),
    "route-locked": _l("People rely on this agreement, so who shares with whom and why cannot "
                       "change: create a new agreement instead"),
    "categories-widened": _l("People consented to this agreement as it is, so no category can "
                             "be added: create a new agreement and ask for consent again"),
    "basis-locked": _l("People rely on this agreement, so its lawful basis cannot change to or "
                       "from consent: create a new agreement instead"),
    "basis-public-authority": _l("Legitimate interests is not a lawful basis for a public "
                                 "authority sharing for its tasks: choose public task or "
                                 "another basis"),
    # Translators: a route is one agency sharing with another for one purpose.
    "route-consent-based": _l("People were asked for consent to share these categories on this "
                              "route, so another basis cannot share them here: create an "
                              "agreement for a different purpose"),
    "route-statutory": _l("An agreement in force already shares these categories on this "
                          "route without consent, so consent cannot be asked for them here"),
}


class _Id:
    """A row's id as a form sends it (even an empty choice is checked)."""

    def __init__(self, message: Any) -> None:
        self.message = message

    def __call__(self, form: FlaskForm, field: Field) -> None:
        if not field.errors and forms.small_int(field.data) is None:
            raise ValidationError(self.message)


def _ids(form: FlaskForm, field: Field) -> None:
    if not field.errors and (any(forms.small_int(v) is None for v in field.data)
                             or len(field.data) > 100):
        raise ValidationError(AGREEMENT_MESSAGES["category-unknown"])


def _text(label: Any, *, required: bool = False) -> forms.TextField:
    return forms.TextField(validators=[
        *([forms.Required(label)] if required else []), forms.MaxLength(label, 300),
        forms.NoMarkup(label)])


def _date(label: Any, *, required: bool = False) -> forms.DateText:
    return forms.DateText(validators=[
        *([forms.Required(label)] if required else []), forms.RealDate(label),
        forms.DateBetween(label)])


# Made in the order the error summary lists them (WTForms orders fields by when each was made).
_REFERENCE = forms.TextField(validators=[
    forms.Required(_l("the reference")), forms.MaxLength(_l("the reference"), 64),
    forms.Matches(REFERENCE, AGREEMENT_MESSAGES["reference-format"])])


class AgreementForm(forms.Form):
    """A sharing agreement's fields, as a change to it sends them."""

    title = _text(_l("the title"), required=True)
    statutory_gateway = _text(_l("the statutory gateway"))
    art9_condition = _text(_l("the Article 9 condition"))
    from_agency = forms.TextField(validators=[_Id(_l("Choose the agency that shares"))])
    to_agency = forms.TextField(validators=[_Id(_l("Choose the agency it shares with"))])
    purpose = forms.TextField(validators=[_Id(_l("Choose the purpose"))])
    lawful_basis = forms.TextField(validators=[forms.OneOf(
        [b.value for b in LawfulBasis], AGREEMENT_MESSAGES["basis-unknown"])])
    valid_from = _date(_l("the start date"), required=True)
    valid_to = _date(_l("the end date"))
    categories = forms.Values(validators=[
        forms.Required(message=AGREEMENT_MESSAGES["categories-required"]), _ids])


class NewAgreementForm(AgreementForm):
    """A new sharing agreement: its reference too, which never changes."""

    reference = _REFERENCE
