"""Forms of the public portal and of staff identity (CSRF is checked for every form by
CSRFProtect)."""

from __future__ import annotations

import re
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import Field, PasswordField, RadioField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, DataRequired, Email, EqualTo, Length, Regexp, ValidationError

from portal import forms
from portal.identity.passwords import MAX_LENGTH, MIN_LENGTH
from portal.identity.staff import GRANTABLE


class _Form(forms.Form):
    """A form of these pages (CSRFProtect already refuses any POST without a valid token)."""


def errors_of(form: FlaskForm) -> forms.Errors:
    """The error summary's list: each field's first error, linked to the field."""
    return forms.errors_of(form, first_only=True)


class RegisterForm(_Form):
    """Create an account."""

    email = StringField(validators=[
        DataRequired(_l("Enter your email address")),
        Length(max=320, message=_l("Email address must be 320 characters or fewer")),
        Email(_l("Enter an email address in the correct format, like name@example.com"),
              check_deliverability=False),
    ])
    password = PasswordField(validators=[
        DataRequired(_l("Enter a password")),
        Length(min=MIN_LENGTH, message=_l("Password must be %(n)s characters or more",
                                          n=MIN_LENGTH)),
        Length(max=MAX_LENGTH, message=_l("Password must be %(n)s characters or fewer",
                                          n=MAX_LENGTH)),
    ])
    confirm = PasswordField(validators=[
        DataRequired(_l("Enter your password again")),
        EqualTo("password", _l("The passwords do not match")),
    ])


class SignInForm(_Form):
    """Sign in with email and password."""

    email = StringField(validators=[
        DataRequired(_l("Enter your email address")),
        Length(max=320, message=_l("Email address must be 320 characters or fewer")),
    ])
    password = PasswordField(validators=[
        DataRequired(_l("Enter your password")),
        Length(max=MAX_LENGTH, message=_l("Password must be %(n)s characters or fewer",
                                          n=MAX_LENGTH)),
    ])


class EmailForm(_Form):
    """Ask for a password reset link."""

    email = StringField(validators=[
        DataRequired(_l("Enter your email address")),
        Length(max=320, message=_l("Email address must be 320 characters or fewer")),
        Email(_l("Enter an email address in the correct format, like name@example.com"),
              check_deliverability=False),
    ])


class NewPasswordForm(_Form):
    """Choose a new password."""

    password = RegisterForm.password
    confirm = RegisterForm.confirm


class CodeForm(_Form):
    """A six-digit code from an authenticator app."""

    code = StringField(validators=[
        DataRequired(_l("Enter the 6-digit code")),
        Regexp(r"^\s*\d{3}\s?\d{3}\s*$",
               message=_l("The code must be 6 numbers, like 123456")),
    ])


RECOVERY_PATTERN = r"^[A-Za-z0-9\s-]{1,40}$"


class RecoveryCodeForm(_Form):
    """One of the recovery codes given when the authenticator app was added."""

    code = StringField(validators=[
        DataRequired(_l("Enter one of your recovery codes")),
        Length(max=40, message=_l("The code must be 40 characters or fewer")),
        Regexp(RECOVERY_PATTERN,
               message=_l("The code can only contain letters, numbers and dashes")),
    ])


class ConfirmForm(_Form):
    """A button that confirms a step (the CSRF token is its only field)."""


class OwnerForm(_Form):
    """The password and a code again, before the second factor is changed."""

    password = PasswordField(validators=[
        DataRequired(_l("Enter your password")),
        Length(max=MAX_LENGTH, message=_l("Password must be %(n)s characters or fewer",
                                          n=MAX_LENGTH)),
    ])
    code = StringField(validators=[
        DataRequired(_l("Enter a code from your app or a recovery code")),
        Length(max=40, message=_l("The code must be 40 characters or fewer")),
        Regexp(RECOVERY_PATTERN,
               message=_l("The code can only contain letters, numbers and dashes")),
    ])


class EmailWordingForm(_Form):
    """What emails to the account may say."""

    wording = RadioField(choices=[SelectChoice("neutral", ""), SelectChoice("detailed", ""),
                                  SelectChoice("none", "")],
                         validate_choice=False,
                         validators=[DataRequired(_l("Choose what our emails may say")),
                                     AnyOf(["neutral", "detailed", "none"],
                                           message=_l("Choose what our emails may say"))])


class LanguageForm(_Form):
    """The account's language."""

    language = RadioField(choices=[SelectChoice("en", "English"), SelectChoice("cy", "Cymraeg"),
                                   SelectChoice("pl", "Polski")],
                          validate_choice=False,
                          validators=[DataRequired(_l("Select a language")),
                                      AnyOf(["en", "cy", "pl"], message=_l("Select a language"))])


# --- staff ----------------------------------------------------------------------------------

STAFF_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_ROLES = forms.AllOf([r.value for r in GRANTABLE], _l("Choose one or more roles"))


class StaffSignInForm(_Form):
    """Staff sign-in, step one (the password is taken as typed, spaces and all)."""

    email = forms.TextField(validators=[forms.Required(_l("your email address")),
                                        forms.MaxLength(_l("your email address"), 320)])
    password = StringField(validators=[forms.Required(message=_l("Enter your password"))])


def _code(value: Any) -> Any:
    # Nothing longer than a recovery code is worth checking.
    return forms.strip(value)[:40]


class StaffCodeForm(_Form):
    """A code from the authenticator app (or, at sign-in, a recovery code)."""

    code = StringField(filters=[_code],
                       validators=[forms.Required(message=_l("Enter the code"))])


def _same_as_password(form: FlaskForm, field: Field) -> None:
    # Only once the password itself is acceptable, so a person fixes one thing at a time.
    if not form.password.errors and (field.data or "") != (form.password.data or ""):
        raise ValidationError(_l("The two passwords are not the same"))


class StaffPasswordForm(_Form):
    """A new member's own password, chosen from their set-up link."""

    password = StringField(validators=[forms.LengthBetween(
        MIN_LENGTH, MAX_LENGTH, _l("Enter a password of %(min)s to %(max)s characters",
                                   min=MIN_LENGTH, max=MAX_LENGTH))])
    confirm = StringField(validators=[_same_as_password])


class NewStaffForm(_Form):
    """An agency admin adds a staff member."""

    name = forms.TextField(validators=[forms.Required(_l("their name")),
                                       forms.MaxLength(_l("their name"), 200),
                                       forms.NoMarkup(_l("their name"))])
    email = forms.TextField(filters=[forms.lower], validators=[
        forms.Required(_l("their email address")),
        forms.MaxLength(_l("their email address"), 320),
        forms.Matches(STAFF_EMAIL, _l("Enter an email address like name@example.org"))])
    roles = forms.Values(validators=[_ROLES])


class RolesForm(_Form):
    """A member's grantable roles."""

    roles = forms.Values(validators=[_ROLES])
