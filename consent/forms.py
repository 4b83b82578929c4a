"""Forms of consent's staff pages (CSRF is checked for every form by CSRFProtect)."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import Field
from wtforms.validators import ValidationError

from consent import notices
from consent.agreements import REFERENCE
from consent.first_contact.operations import REMOTE_METHODS
from portal import forms
from portal.identity.forms import _Form
from portal.reference.models import LawfulBasis
from portal.reference.operations import MIN_SEARCH_CHARS, search_words

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


# --- the staff pages' error summary; notices; the subject page (helper "consentui") --------

class StaffForm(_Form):
    """A staff page's form: the kernel's, whose error summary lists every error in the order
    it was found, an operation's refusals after (``add_error``)."""


def _past_date(label: Any) -> forms.DateValue:
    """A date that must be given, real, today or earlier."""
    return forms.DateValue(validators=[forms.Required(label), forms.RealDate(label),
                                       forms.PastDate(label)])


BAD_SLUG = _l("The short name may contain only lower-case letters, digits and single "
              "hyphens, like victim-referral")


class NoticeForm(StaffForm):
    """A new notice's short name."""

    slug = forms.checked_text(_l("the short name"), max_length=64)

    def validate_slug(self, field: Field) -> None:
        """The short name's shape, once it is present and short enough."""
        if field.data and not field.errors and not notices.SLUG.match(field.data):
            raise ValidationError(BAD_SLUG)


class NoticeTextForm(StaffForm):
    """One language's text of a draft, and whether it is ready."""

    title = forms.checked_text(_l("the title"), max_length=notices.MAX_TITLE, name_like=True)
    body = forms.checked_text(_l("the notice text"), max_length=notices.MAX_BODY, name_like=True)
    if_you_say_no = forms.checked_text(_l("what happens if the person says no"),
                                       required=False, max_length=notices.MAX_IF_NO,
                                       name_like=True)
    status = forms.chosen(notices.TEXT_STATUSES, _l("Choose whether this translation is ready"))


class PublishForm(StaffForm):
    """Publishing a draft: the re-consent answer and the agreements it covers.

    ``known`` (the ids of the current agreements) is set before validating.
    """

    requires_reconsent = forms.chosen(("yes", "no"),
                                      _l("Say whether people need to consent again"))
    agreements = forms.Values()
    known: set[int] = set()

    @property
    def agreement_ids(self) -> list[int]:
        """The agreements chosen, as ids (anything not a number left out)."""
        return [int(a) for a in self.agreements.data or [] if a.isdigit()]

    def validate_agreements(self, field: Field) -> None:
        """At least one agreement, each of them current."""
        ids = self.agreement_ids
        if not ids or len(ids) != len(field.data or []) or not set(ids) <= self.known:
            raise ValidationError(_l("Choose the sharing agreements this notice covers"))


class HoldingForm(StaffForm):
    """A reference the officer's agency holds on the person, added by hand."""

    agency_ref = forms.checked_text(_l("your agency's reference"), max_length=100, name_like=True)
    since = _past_date(_l("The date records began"))
    categories = forms.Values()


class RemoteChoiceForm(StaffForm):
    """A choice or withdrawal that arrived by phone, letter or email."""

    choice = forms.chosen(("yes", "no", "withdraw"), _l("Choose what the person decided"))
    method = forms.chosen(REMOTE_METHODS, _l("Choose how it arrived"))
    received_on = _past_date(_l("The date it arrived"))
    note = forms.checked_text(_l("Note"), required=False, max_length=1000)
    notice = forms.TextField(filters=[])

    @property
    def notice_version_id(self) -> int:
        """The consent question's version id (0, which is no version, if it is no number)."""
        try:
            return int(self.notice.data or "")
        except ValueError:
            return 0

    def validate_notice(self, field: Field) -> None:
        """A consent question was chosen."""
        try:
            int(field.data or "")
        except ValueError:
            raise ValidationError(_l("Choose a consent question")) from None


class ContactForm(StaffForm):
    """How the person wants to be contacted and what emails may say (the operation checks
    both)."""

    contact_channel = forms.Choice()
    email_wording = forms.Choice()


class IdentityCheckedForm(StaffForm):
    """The officer confirms they checked the person's proof of identity."""

    identity_checked = forms.chosen(("yes",), _l("Confirm that you checked their proof of "
                                                 "identity"))


class SearchForm(StaffForm):
    """Finding a person by name or the agency's reference."""

    q = forms.TextField()

    def validate_q(self, field: Field) -> None:
        """Short enough, and with enough letters or digits to search for."""
        if len(field.data) > 100:
            raise ValidationError(_l("Search for 100 characters or fewer"))
        if field.data and not search_words(field.data):
            raise ValidationError(_l("Enter at least %(count)d letters or digits of a name, "
                                     "or your agency's reference", count=MIN_SEARCH_CHARS))
