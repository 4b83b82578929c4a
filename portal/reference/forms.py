"""Forms of reference-data administration: agencies, data categories, purposes, API keys."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from wtforms import StringField

from portal import forms
from portal.reference.apikeys import SCOPES
from portal.reference.models import AgencyKind

# The shape of a short name (slug): other systems use it, so the operation checks it too.
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SLUG_FORMAT = _l("The short name may contain only lower-case letters, digits and single "
                 "hyphens, like fen-housing")
MAX_EXPIRY_DAYS = 730

# The fields, made in the order the error summary lists them (WTForms orders a form's fields
# by when each was made, whichever form class holds it).
_SLUG = forms.TextField(validators=[
    forms.Required(_l("the short name")), forms.MaxLength(_l("the short name"), 64),
    # The shape is checked even of a name that is too long, so both errors show.
    forms.Matches(SLUG, SLUG_FORMAT, always=True)])
_NAME = forms.TextField(validators=[
    forms.Required(_l("the name")), forms.MaxLength(_l("the name"), 200),
    forms.NoMarkup(_l("the name"))])
_KIND = StringField(validators=[forms.OneOf([k.value for k in AgencyKind],
                                            _l("Choose the kind of agency"))])
_SAR_CONTACT = forms.TextField(validators=[
    forms.MaxLength(_l("the contact for subject access requests"), 300),
    forms.NoMarkup(_l("the contact for subject access requests"))])
# Each agency is a controller: what a subject access response tells the person about it.
_CONTROLLER_NAME = forms.TextField(validators=[
    forms.MaxLength(_l("the controller's legal name"), 300),
    forms.NoMarkup(_l("the controller's legal name"))])
_CONTROLLER_ADDRESS = forms.TextField(validators=[
    forms.MaxLength(_l("the controller's address"), 1000),
    forms.NoMarkup(_l("the controller's address"))])
_DPO_CONTACT = forms.TextField(validators=[
    forms.MaxLength(_l("the data protection officer's contact"), 300),
    forms.NoMarkup(_l("the data protection officer's contact"))])
_RETENTION = forms.TextField(validators=[
    forms.MaxLength(_l("how long the agency keeps records"), 2000),
    forms.NoMarkup(_l("how long the agency keeps records"))])
_DESCRIPTION = forms.TextField(validators=[
    forms.MaxLength(_l("the description"), 2000), forms.NoMarkup(_l("the description"))])
_SPECIAL_CATEGORY = forms.YesBox()
_CRIMINAL_OFFENCE = forms.YesBox()


class AgencyForm(forms.Form):
    """An agency's changeable fields."""

    name = _NAME
    kind = _KIND
    sar_contact = _SAR_CONTACT
    controller_name = _CONTROLLER_NAME
    controller_address = _CONTROLLER_ADDRESS
    dpo_contact = _DPO_CONTACT
    retention_statement = _RETENTION


class NewAgencyForm(AgencyForm):
    """A new agency: its short name too."""

    slug = _SLUG


class CategoryForm(forms.Form):
    """A data category's changeable fields."""

    name = _NAME
    description = _DESCRIPTION
    special_category = _SPECIAL_CATEGORY
    criminal_offence = _CRIMINAL_OFFENCE


class NewCategoryForm(CategoryForm):
    """A new data category: its short name too."""

    slug = _SLUG


class PurposeForm(forms.Form):
    """A purpose's changeable fields."""

    name = _NAME
    description = _DESCRIPTION


class NewPurposeForm(PurposeForm):
    """A new purpose: its short name too."""

    slug = _SLUG


REFERENCE_FORMS: dict[tuple[str, bool], type[forms.Form]] = {
    ("agencies", False): AgencyForm, ("agencies", True): NewAgencyForm,
    ("categories", False): CategoryForm, ("categories", True): NewCategoryForm,
    ("purposes", False): PurposeForm, ("purposes", True): NewPurposeForm,
}


class ApiKeyForm(forms.Form):
    """A new API key: its name, what it may do, and when it expires."""

    name = forms.TextField(validators=[
        forms.Required(_l("the key's name")), forms.MaxLength(_l("the key's name"), 200),
        forms.NoMarkup(_l("the key's name"))])
    scopes = forms.Values(validators=[forms.AllOf(SCOPES, _l("Choose what the key may do"))])
    expires_days = forms.TextField(validators=[forms.WholeNumber(
        1, MAX_EXPIRY_DAYS, _l("Enter a whole number of days from 1 to %(max)s",
                               max=MAX_EXPIRY_DAYS))])
