"""The one CSV writer of the product, safe to open in a spreadsheet.

Every CSV file the portal writes (a person's download, a SAR bundle's record list, the
register export) may be opened in Excel, LibreOffice or Google Sheets, which run a cell that
starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or line break before one) as a formula: a
``=HYPERLINK(...)`` that leaks the sheet, or ``=cmd|...`` that runs a program. So every text
cell that starts with one of those characters is written with a leading apostrophe, which
spreadsheets show as plain text; numbers, booleans and empty cells are written as they are.
The JSON beside each CSV file keeps the exact text.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

# The characters that make a spreadsheet read a cell as a formula (OWASP's list, plus a line
# feed, which some spreadsheets skip before a formula as they do a carriage return).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
ESCAPE = "'"


def cell(value: Any) -> Any:
    """One value as a formula-safe CSV cell: text escaped, numbers and booleans as they are."""
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, dt.datetime | dt.date):
        text = value.isoformat()
    elif isinstance(value, uuid.UUID):
        text = str(value)
    else:
        text = str(value)
    return ESCAPE + text if text.startswith(FORMULA_START) else text


class Writer:
    """Writes a header row, then each row's cells in the columns' order, formula-safe."""

    def __init__(self, stream: TextIO, columns: Sequence[str]) -> None:
        self.columns = list(columns)
        self._writer = csv.writer(stream, quoting=csv.QUOTE_MINIMAL)
        self._writer.writerow([cell(name) for name in self.columns])

    def row(self, row: Mapping[str, Any]) -> None:
        """One row; keys outside the columns are left out, missing ones are empty."""
        self._writer.writerow([cell(row.get(name)) for name in self.columns])


def write(stream: TextIO, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> None:
    """Write a header and the rows (only the named columns) to a text stream."""
    writer = Writer(stream, columns)
    for row in rows:
        writer.row(row)


def text(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    """The whole CSV file as text."""
    buffer = io.StringIO()
    write(buffer, columns, rows)
    return buffer.getvalue()
