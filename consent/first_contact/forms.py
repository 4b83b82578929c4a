"""The first-contact journey's forms (CSRF is checked for every form by CSRFProtect)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import Field, StringField
from wtforms.validators import ValidationError

from consent.first_contact.operations import CONTACT_CHANNELS, Applicable
from consent.forms import StaffForm
from consent.validators import (
    EmailLike,
    IsoDateField,
    OneOf,
    PastDate,
    Text,
    as_sent,
    choice_field,
    stripped,
    text_field,
)
from portal import mail
from portal.i18n import LANGUAGES
from portal.reference.operations import NewSubject

LANGUAGE_CHOICES = ("en", *LANGUAGES)
MAX_DRAWN_SIGNATURE = 400_000  # characters of PNG data URL; beyond it the name is typed
EMAIL_FORMAT = _l("Enter an email address in the right format, like name@example.com")


class StartForm(StaffForm):
    """Step 1: the person (found or new) and the agency's reference."""

    given_name = text_field(_l("their first name"), name_like=True)
    family_name = text_field(_l("their last name"), name_like=True)
    date_of_birth = IsoDateField(validators=[PastDate(_l("Date of birth"))])
    language = choice_field(LANGUAGE_CHOICES, _l("Choose the language they prefer"))
    email = StringField(filters=[stripped], validators=[
        Text(_l("Email address"), required=False, max_length=320), EmailLike(EMAIL_FORMAT)])
    phone = text_field(_l("Phone number"), required=False, max_length=40)
    safe_contact = text_field(_l("Safe contact instructions"), required=False, max_length=1000)
    # Optional, never pre-selected: unanswered, a link is told by staff and emails are neutral.
    contact_channel = choice_field(("", *CONTACT_CHANNELS), _l("Choose how they want to be "
                                                          "contacted"))
    email_wording = StringField(filters=[lambda v: v or mail.NEUTRAL], validators=[
        OneOf(set(mail.WORDINGS), _l("Choose what emails to them may say"))])
    agency_ref = text_field(_l("your agency's reference"), max_length=100, name_like=True)
    existing = StringField(filters=[as_sent])

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
    guardian_name = text_field(_l("the parent or guardian's full name"),
                          required=lambda form: form.child, name_like=True)
    guardian_relationship = text_field(_l("their relationship to the child"),
                                  required=lambda form: form.child
                                  or bool(form.guardian_name.data),
                                  max_length=100, name_like=True)
    interpreter = choice_field(("yes", "no"), _l("Say whether an interpreter was used"))
    interpreter_language = text_field(_l("the interpreter's language"),
                                 required=lambda form: form.interpreter.data == "yes",
                                 max_length=60, name_like=True)


def choices_form(notices: Sequence[Applicable]) -> StaffForm:
    """Step 3: a yes or no for each notice shown, each field named ``notice-<version id>``."""

    class ChoicesForm(StaffForm):
        pass

    for item in notices:
        setattr(ChoicesForm, f"notice-{item.version.id}", choice_field(
            ("yes", "no"), _("Choose yes or no for “%(title)s”", title=item.text.title)))
    return ChoicesForm()


def _drawn_fits(form: Any, _field: Field) -> None:
    if len(form.signature_image.data) > MAX_DRAWN_SIGNATURE:
        form.signature_image.data = ""
        raise ValidationError(_l("The drawn signature was too large: type the name instead"))


class SignForm(StaffForm):
    """Step 4: the signature (drawn, or a typed name) and the officer's witness."""

    typed_name = StringField(filters=[stripped], validators=[
        _drawn_fits, Text(_l("the name of the person signing"),
                          required=lambda form: not form.signature_image.data, name_like=True)])
    witness = choice_field(("yes",), _l("Confirm that you witnessed these choices"))
    signature_image = StringField(filters=[stripped])


class ReceiptEmailForm(StaffForm):
    """The address to email a receipt to."""

    email = StringField(filters=[stripped], validators=[
        Text(_l("Email address"), max_length=320), EmailLike(EMAIL_FORMAT)])
