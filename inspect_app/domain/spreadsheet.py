"""Reading and writing the .xlsx files of the admin imports (templates, sites), safely.

An upload is refused before openpyxl sees it when it is too large, not a zip with a workbook,
or a zip bomb (too many entries or too many uncompressed bytes). Reading collects every problem
with its sheet row number, so that an import can report them all at once and change nothing.
Formulas are refused: a value must be what the cell shows, not something computed.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from io import BytesIO
from typing import IO, Any

import openpyxl
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from inspect_app.domain.errors import Invalid, TooLarge, UnsupportedMedia
from inspect_app.i18n import _

MAX_XLSX_BYTES = 5 * 1024 * 1024
MAX_UNCOMPRESSED_BYTES = 60 * 1024 * 1024
MAX_ZIP_ENTRIES = 500
MAX_ROWS = 10_000
TRUE_WORDS = {"yes", "y", "true", "1", "是", "x"}
FALSE_WORDS = {"no", "n", "false", "0", "否"}


def read_limited(fileobj: IO[bytes], limit: int = MAX_XLSX_BYTES) -> bytes:
    """The upload's bytes, reading at most one byte past the limit before refusing it."""
    data = fileobj.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(_("The file is larger than {mb} MB.").format(mb=limit // (1024 * 1024)))
    return data


def open_workbook(data: bytes):
    """An openpyxl read-only workbook, after checking the zip container."""
    if len(data) > MAX_XLSX_BYTES:
        raise TooLarge(
            _("The file is larger than {mb} MB.").format(mb=MAX_XLSX_BYTES // (1024 * 1024))
        )
    buffer = BytesIO(data)
    if not zipfile.is_zipfile(buffer):
        raise UnsupportedMedia(_("This is not an Excel .xlsx file."))
    try:
        with zipfile.ZipFile(buffer) as archive:
            entries = archive.infolist()
    except zipfile.BadZipFile as exc:
        raise UnsupportedMedia(_("This is not an Excel .xlsx file.")) from exc
    if len(entries) > MAX_ZIP_ENTRIES or sum(e.file_size for e in entries) > MAX_UNCOMPRESSED_BYTES:
        raise TooLarge(
            _("The file expands to too much data to be a spreadsheet; it was not opened.")
        )
    if "xl/workbook.xml" not in {e.filename for e in entries}:
        raise UnsupportedMedia(_("This is not an Excel .xlsx file."))
    try:
        return openpyxl.load_workbook(BytesIO(data), read_only=True, data_only=False)
    except Exception as exc:  # openpyxl raises many types for damaged files
        raise Invalid(_("The spreadsheet cannot be read: {why}").format(why=exc)) from exc


def _rows(ws):
    """The sheet's rows; a read-only sheet parses its XML while it is read, so damage found
    there (malformed XML, a forbidden DTD) is a refused file too, not a server error."""
    rows = ws.iter_rows()
    while True:
        try:
            cells = next(rows)
        except StopIteration:
            return
        except Exception as exc:  # the XML parsers raise many types
            raise Invalid(_("The spreadsheet cannot be read: {why}").format(why=exc)) from exc
        yield cells


class Row:
    """One data row: typed getters that note problems (with the row number) instead of raising."""

    def __init__(self, number: int, values: dict[str, Any], problems: list[str], refused: set[str]):
        self.number = number
        self.values = values
        self.problems = problems
        self.refused = refused  # columns already reported (formulas): not "empty" as well

    def problem(self, message: str) -> None:
        self.problems.append(_("Row {row}: {problem}").format(row=self.number, problem=message))

    def text(self, column: str, *, required: bool = False, max_length: int = 500) -> str:
        value = self.values.get(column)
        if value is None or value == "":
            if required and column not in self.refused:
                self.problem(_("{column} is empty.").format(column=column))
            return ""
        if not isinstance(value, str):
            self.problem(
                _("{column} must be text, not {value}.").format(column=column, value=value)
            )
            return ""
        if len(value) > max_length:
            self.problem(
                _("{column} is longer than {n} characters.").format(column=column, n=max_length)
            )
        return value

    def numeric(self, column: str) -> float | None:
        value = self.values.get(column)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            value = None
        elif isinstance(value, str):
            try:
                value = float(value.replace(",", ""))
            except ValueError:
                value = None
        if not isinstance(value, (int, float)):
            self.problem(_("{column} must be a number.").format(column=column))
            return None
        return int(value) if float(value).is_integer() else float(value)

    def flag(self, column: str, default: bool) -> bool:
        value = self.values.get(column)
        if value is None or value == "":
            return default
        word = str(value).strip().lower()
        if isinstance(value, bool) or word in TRUE_WORDS | FALSE_WORDS:
            return value if isinstance(value, bool) else word in TRUE_WORDS
        self.problem(_("{column} must be yes or no.").format(column=column))
        return default


def read_table(
    workbook,
    columns: Sequence[str],
    required: Sequence[str],
    problems: list[str],
    sheet: str | None = None,
) -> list[Row]:
    """The rows of a sheet (the named one, else the first) under a header row naming the columns.

    Unknown columns are ignored; missing required columns, formulas and too many rows are problems.
    """
    ws = workbook[sheet] if sheet and sheet in workbook.sheetnames else workbook.worksheets[0]
    header: dict[int, str] | None = None
    rows: list[Row] = []
    for cells in _rows(ws):
        cells = [c for c in cells if getattr(c, "value", None) is not None]
        if not cells:
            continue
        number = cells[0].row
        if header is None:
            header = {}
            for c in cells:
                name = str(c.value).strip().lower()
                if name in header.values():
                    problems.append(
                        _("Row {row}: the column {column} appears twice.").format(
                            row=number, column=name
                        )
                    )
                header[c.column] = name
            missing = [c for c in required if c not in header.values()]
            if missing:
                problems.append(
                    _("Row {row}: missing column(s): {columns}.").format(
                        row=number, columns=", ".join(missing)
                    )
                )
                return []
            continue
        if len(rows) >= MAX_ROWS:
            problems.append(_("More than {n} rows; split the file.").format(n=MAX_ROWS))
            break
        values: dict[str, Any] = {}
        refused: set[str] = set()
        for c in cells:
            name = header.get(c.column)
            if name not in columns:
                continue
            value = c.value.strip() if isinstance(c.value, str) else c.value
            if c.data_type == "f" or (isinstance(value, str) and value.startswith("=")):
                problems.append(
                    _("Row {row}: {column} holds a formula; type the value instead.").format(
                        row=number, column=name
                    )
                )
                refused.add(name)
                continue
            values[name] = value
        rows.append(Row(number, values, problems, refused))
    if header is None:
        problems.append(_("The sheet is empty."))
    return rows


def cell(ws, value: Any) -> WriteOnlyCell:
    """A write-only cell; text is always a string cell, never a formula (a hazard description
    that begins with "=" is text), and loses the control characters XML cannot carry."""
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
    c = WriteOnlyCell(ws, value=value)
    if isinstance(value, str):
        c.data_type = "s"
    return c


def write_workbook(sheets: Sequence[tuple[str, Sequence[str], Sequence[Sequence[Any]]]]) -> bytes:
    """An .xlsx of (title, header, rows) sheets; every text cell is stored as text, never a formula."""
    workbook = openpyxl.Workbook(write_only=True)
    for title, header, rows in sheets:
        ws = workbook.create_sheet(title)
        ws.append(list(header))
        for row in rows:
            ws.append([cell(ws, value) for value in row])
    out = BytesIO()
    workbook.save(out)
    return out.getvalue()
