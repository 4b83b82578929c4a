"""The kernel's form: its fields, its checks and its error summary, the one way pages take input."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask_babel import Babel
from werkzeug.datastructures import MultiDict

from portal import dates, forms


@pytest.fixture(autouse=True)
def request_context() -> Iterator[None]:
    app = Flask(__name__)
    Babel(app)
    with app.test_request_context(method="POST"):
        yield


def submit(form_class: type[forms.Form], **sent: Any) -> forms.Form:
    form = form_class(formdata=MultiDict(sent))
    form.validate()
    return form


def texts(form: forms.Form) -> list[tuple[str, str]]:
    return [(e["href"], e["text"]) for e in form.summary]


class Person(forms.Form):
    name = forms.checked_text("their name", name_like=True, max_length=10)
    nickname = forms.checked_text("a nickname", required=lambda form: not form.name.data)
    email = forms.TextField(validators=[
        forms.MaxLength("Email address", 12),
        forms.Matches(re.compile(".*@", re.S), "Enter an email address", always=True)])
    channel = forms.chosen(("", "email", "post"), "Choose how to contact them")
    born = forms.DateValue(validators=[forms.RealDate("Date of birth"),
                                       forms.PastDate("Date of birth")])
    tags = forms.Values(validators=[forms.AllOf(("a", "b"), "Choose tags")])

    def validate_channel(self, field: Any) -> None:
        # A check of one field that puts its error on another.
        if field.data == "email" and not self.email.data:
            self.email.errors.append("Enter their email address")


def test_every_error_is_listed_at_once_in_the_fields_order() -> None:
    # Given a form with several problems
    form = submit(Person, name="<b>", email="x" * 13, channel="fax", born="2001-02-30",
                  tags="c")
    # Then each field's problems are listed together, in the order the fields are made
    assert texts(form) == [
        ("#name", "their name must not contain <, >, { } or \\"),
        ("#email", "Email address must be 12 characters or fewer"),
        ("#email", "Enter an email address"),
        ("#channel", "Choose how to contact them"),
        ("#born", "Date of birth must be a real date"),
        ("#tags", "Choose tags"),
    ]


def test_a_field_with_an_error_is_not_checked_further() -> None:
    # A name both missing and too long cannot be; a too-long name with markup shows one error.
    form = submit(Person, name="<" * 11, tags="a")
    assert texts(form) == [("#name", "their name must be 10 characters or fewer")]


def test_required_when_depends_on_another_field() -> None:
    assert texts(submit(Person, name="", tags="a"))[:2] == [
        ("#name", "Enter their name"), ("#nickname", "Enter a nickname")]
    assert texts(submit(Person, name="Ann", tags="a")) == []


def test_an_error_put_on_another_field_is_listed_where_it_was_found() -> None:
    form = submit(Person, name="Ann", channel="email", tags="a")
    assert texts(form) == [("#email", "Enter their email address")]
    assert form.email.errors == ["Enter their email address"]


def test_a_choice_is_compared_as_sent() -> None:
    # " email" is not "email": a radio sends exactly its value.
    assert ("#channel", "Choose how to contact them") in texts(
        submit(Person, name="Ann", channel=" email", tags="a"))
    # Nothing chosen is allowed when "" is
    assert texts(submit(Person, name="Ann", tags="a")) == []


def test_text_arrives_trimmed_and_is_shown_as_sent() -> None:
    form = submit(Person, name="  Ann  ", tags="a")
    assert form.name.data == "Ann"
    assert form.shown()["name"] == "  Ann  "


def test_a_date_box_holds_its_date_and_drops_a_refused_one() -> None:
    good = submit(Person, name="Ann", born=" 1990-05-01 ", tags="a")
    assert good.born.data == dt.date(1990, 5, 1)
    tomorrow = (dates.today() + dt.timedelta(days=1)).isoformat()
    future = submit(Person, name="Ann", born=tomorrow, tags="a")
    assert texts(future) == [("#born", "Date of birth must be today or in the past")]
    # The refused date is not kept, but the text typed is shown again
    assert future.born.data is None
    assert future.born._value() == tomorrow
    old = submit(Person, name="Ann", born="1850-01-01", tags="a")
    assert texts(old) == [("#born", "Date of birth must be after 1900")]


def test_checkboxes_keep_every_value_sent() -> None:
    form = submit(Person, name="Ann", tags=["a", "b"])
    assert form.tags.data == ["a", "b"]
    assert texts(form) == []


def test_an_operations_refusal_joins_the_summary_after_the_fields() -> None:
    form = submit(Person, name="", tags="a")
    form.add_error("tags", "That tag is retired")
    assert texts(form)[-1] == ("#tags", "That tag is retired")
    assert form.tags.errors[-1] == "That tag is retired"


def test_errors_of_lists_each_fields_errors_or_only_the_first() -> None:
    form = submit(Person, name="Ann", email="x" * 13, tags="a")
    assert [e["text"] for e in forms.errors_of(form)] == [
        "Email address must be 12 characters or fewer", "Enter an email address"]
    assert [e["text"] for e in forms.errors_of(form, first_only=True)] == [
        "Email address must be 12 characters or fewer"]


@pytest.mark.parametrize(("value", "expected"), [
    ("42", 42), ("", None), (None, None), ("-1", None), ("1e3", None), ("1234567890", None)])
def test_small_int(value: str | None, expected: int | None) -> None:
    assert forms.small_int(value) == expected


def test_control_characters_are_refused() -> None:
    class Note(forms.Form):
        text = forms.TextField(validators=[forms.NoControls()])

    assert texts(submit(Note, text="a\x00b")) == [
        ("#text", "Enter text without control characters")]
    assert texts(submit(Note, text="fine")) == []
