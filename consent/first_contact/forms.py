"""The first-contact journey's forms (CSRF is checked for every form by CSRFProtect)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import Field
from wtforms.validators import ValidationError

from consent.first_contact.operations import CONTACT_CHANNELS, Applicable
from consent.forms import StaffForm
from portal import forms, mail
from portal.i18n import LANGUAGES
from portal.reference.operations import NewSubject

LANGUAGE_CHOICES = ("en", *LANGUAGES)
MAX_DRAWN_SIGNATURE = 400_000  # characters of PNG data URL; beyond it the name is typed
EMAIL_FORMAT = _l("Enter an email address in the right format, like name@example.com")
_EMAIL = _l("Email address")
# Shown beside a length error too, so the check runs even after another has failed.
_AT = forms.Matches(re.compile(".*@", re.S), EMAIL_FORMAT, always=True)
_SIGNER = _l("the name of the person signing")


class StartForm(StaffForm):
    """Step 1: the person (found or new) and the agency's reference."""

    given_name = forms.checked_text(_l("their first name"), name_like=True)
    family_name = forms.checked_text(_l("their last name"), name_like=True)
    date_of_birth = forms.DateValue(validators=[forms.RealDate(_l("Date of birth")),
                                                forms.PastDate(_l("Date of birth"))])
    language = forms.chosen(LANGUAGE_CHOICES, _l("Choose the language they prefer"))
    email = forms.TextField(validators=[forms.MaxLength(_EMAIL, 320), _AT])
    phone = forms.checked_text(_l("Phone number"), required=False, max_length=40)
    safe_contact = forms.checked_text(_l("Safe contact instructions"), required=False,
                                      max_length=1000)
    # Optional, never pre-selected: unanswered, a link is told by staff and emails are neutral.
    contact_channel = forms.chosen(("", *CONTACT_CHANNELS), _l("Choose how they want to be "
                                                               "contacted"))
    # Unanswered is the neutral wording.
    email_wording = forms.Choice(filters=[lambda v: v or mail.NEUTRAL], validators=[
        forms.OneOf(("", *mail.WORDINGS), _l("Choose what emails to them may say"))])
    agency_ref = forms.checked_text(_l("your agency's reference"), max_length=100, name_like=True)
    existing = forms.Choice()

    def validate_contact_channel(self, field: Field) -> None:
        """Contact by email needs an address (the error is the address's)."""
        if field.data == "email" and not self.email.data:
            self.email.errors.append(_l("Enter their email address, or choose another way "
                                        "to contact them"))

    @property
    def chosen_subject(self) -> uuid.UUID | None:
        """The person picked among the possible duplicates (an unreadable id names nobody)."""
        if self.existing.data in ("", "new"):
            return None
        try:
            return uuid.UUID(self.existing.data)
        except ValueError:
            return uuid.UUID(int=0)

    @property
    def confirmed_new(self) -> bool:
        """The officer said the person is none of the possible duplicates."""
        return bool(self.existing.data == "new")

    def details(self) -> NewSubject:
        """The person as a new record would hold them."""
        return NewSubject(given_name=self.given_name.data, family_name=self.family_name.data,
                          date_of_birth=self.date_of_birth.data, email=self.email.data,
                          phone=self.phone.data, safe_contact=self.safe_contact.data,
                          preferred_language=self.language.data,
                          contact_channel=self.contact_channel.data,
                          email_wording=self.email_wording.data)


class WhoForm(StaffForm):
    """Step 2: who is choosing, and the interpreter. ``child`` is set before validating."""

    child = False
    guardian_name = forms.checked_text(_l("the parent or guardian's full name"),
                                       required=lambda form: form.child, name_like=True)
    guardian_relationship = forms.checked_text(_l("their relationship to the child"),
                                               required=lambda form: form.child
                                               or bool(form.guardian_name.data),
                                               max_length=100, name_like=True)
    interpreter = forms.chosen(("yes", "no"), _l("Say whether an interpreter was used"))
    interpreter_language = forms.checked_text(_l("the interpreter's language"),
                                              required=lambda form: form.interpreter.data
                                              == "yes", max_length=60, name_like=True)


def choices_form(notices: Sequence[Applicable]) -> StaffForm:
    """Step 3: a yes or no for each notice shown, each field named ``notice-<version id>``."""

    class ChoicesForm(StaffForm):
        pass

    for item in notices:
        setattr(ChoicesForm, f"notice-{item.version.id}", forms.chosen(
            ("yes", "no"), _("Choose yes or no for “%(title)s”", title=item.text.title)))
    return ChoicesForm()


def _drawn_fits(form: Any, _field: Field) -> None:
    if len(form.signature_image.data) > MAX_DRAWN_SIGNATURE:
        form.signature_image.data = ""
        raise ValidationError(_l("The drawn signature was too large: type the name instead"))


def _signer_checks(_form: Any, field: Field) -> None:
    # Checked even after a too-large drawing was refused, so that both errors show.
    for check in (forms.MaxLength(_SIGNER, 200), forms.NoMarkup(_SIGNER)):
        message = check.problem(field.data) if field.data else None
        if message is not None:
            raise ValidationError(message)


class SignForm(StaffForm):
    """Step 4: the signature (drawn, or a typed name) and the officer's witness."""

    typed_name = forms.TextField(validators=[
        _drawn_fits, forms.Required(_SIGNER, when=lambda form: not form.signature_image.data),
        _signer_checks])
    witness = forms.chosen(("yes",), _l("Confirm that you witnessed these choices"))
    signature_image = forms.TextField()


class ReceiptEmailForm(StaffForm):
    """The address to email a receipt to."""

    email = forms.TextField(validators=[forms.Required(_EMAIL), forms.MaxLength(_EMAIL, 320),
                                        _AT])
