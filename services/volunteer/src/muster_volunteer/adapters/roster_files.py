"""Reading an uploaded roster file into rows of text: CSV (UTF-8, or GB 18030 as Excel in
Chinese saves it) or XLSX (its first sheet)."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date, datetime

from openpyxl import load_workbook

from muster_volunteer.domain.roster import RosterFormatError

CSV = "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MEDIA_TYPES = (CSV, XLSX)


def read_table(content: bytes, media_type: str) -> list[list[str]]:
    """The file's rows, each a list of cell texts; `RosterFormatError` if it is unreadable."""
    if media_type == XLSX:
        return _xlsx_rows(content)
    if media_type == CSV:
        return _csv_rows(content)
    raise RosterFormatError(
        f"a roster is {' or '.join(MEDIA_TYPES)}, not {media_type}", code="unsupported_media_type"
    )


def _csv_rows(content: bytes) -> list[list[str]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = content.decode(encoding)
        except UnicodeDecodeError:
            continue
        try:
            return [row for row in csv.reader(io.StringIO(text)) if row]
        except csv.Error as exc:
            raise RosterFormatError(f"the CSV cannot be read: {exc}") from None
    raise RosterFormatError("the CSV is neither UTF-8 nor GB 18030 text")


def _xlsx_rows(content: bytes) -> list[list[str]]:
    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise RosterFormatError(f"the XLSX file cannot be read: {exc}") from None
    try:
        sheet = book.worksheets[0]
        return [[_text(cell) for cell in row] for row in sheet.iter_rows(values_only=True)]
    finally:
        book.close()


def _text(cell: object) -> str:
    """A cell as text: a phone typed as a number keeps its digits, not `1.38e10`."""
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    if isinstance(cell, datetime | date):
        return cell.isoformat()
    return str(cell)
