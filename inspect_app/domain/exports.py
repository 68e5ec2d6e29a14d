"""Hazard exports (CSV, Excel): the hazard list with its filters, one row per hazard, streamed.

Rows are read in keyset-paginated batches in the list's order (newest first), so memory stays
flat however many hazards match; the writers turn the rows into chunks of bytes.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, select

from inspect_app.domain import spreadsheet
from inspect_app.domain.clock import local_today
from inspect_app.domain.errors import Invalid
from inspect_app.domain.hazards import (
    HazardFilters,
    apply_filters,
    overdue,
    status_label,
    visible_hazards_query,
)
from inspect_app.i18n import _
from inspect_app.models import District, Hazard, HazardStatus, RectificationPlan, Site, User

BATCH = 2000
EXCEL_MAX_ROWS = 1_048_575  # one sheet's rows minus the header

COLUMNS = (
    Hazard.id,
    District.name,
    Site.name,
    Hazard.grade,
    Hazard.status,
    Hazard.category,
    Hazard.description,
    Hazard.created_at,
    Hazard.deadline,
    Hazard.accepted_at,
    RectificationPlan.responsible_person,
    RectificationPlan.measures,
    RectificationPlan.rectifier,
    RectificationPlan.acceptor,
)


def headers() -> list[str]:
    """Column titles in the request's language (the order of `hazard_rows`)."""
    return [
        _("ID"),
        _("District"),
        _("Site"),
        _("Grade"),
        _("Status"),
        _("Category"),
        _("Description"),
        _("Created"),
        _("Deadline"),
        _("Accepted"),
        _("Overdue"),
        _("Responsible person"),
        _("Measures"),
        _("Rectifier"),
        _("Acceptor"),
    ]


# Excel column widths (characters), in the order of headers().
WIDTHS = (8, 10, 24, 10, 10, 14, 48, 17, 11, 17, 8, 12, 40, 12, 12)


def _query(user: User, filters: HazardFilters, today: date):
    """The list's visibility and filters (its WHERE clause), selecting the export's columns:
    plain rows, not ORM objects, so a batch costs no identity map."""
    where = apply_filters(visible_hazards_query(user), filters.check(), today).whereclause
    query = (
        sa_select(*COLUMNS)
        .select_from(Hazard)
        .join(Site, Site.id == Hazard.site_id)
        .join(District, District.id == Hazard.district_id)
        .outerjoin(RectificationPlan, RectificationPlan.hazard_id == Hazard.id)
    )
    return query if where is None else query.where(where)


def count(session: Session, user: User, filters: HazardFilters, today: date | None = None) -> int:
    query = apply_filters(visible_hazards_query(user), filters.check(), today)
    return session.exec(select(func.count()).select_from(query.subquery())).one()


def hazard_rows(
    session: Session,
    user: User,
    filters: HazardFilters,
    *,
    today: date | None = None,
    batch: int = BATCH,
) -> Iterator[list[Any]]:
    """Every visible hazard matching the filters as a list of cell values, newest first.

    Keyset pagination on (created_at, id) rather than OFFSET: each batch is an index range
    scan, and no batch is ever held with the next.
    """
    today = today or local_today(filters.zone)
    base = _query(user, filters, today).order_by(Hazard.created_at.desc(), Hazard.id.desc())
    labels = {
        "major": _("Major"),
        "general": _("General"),
        **{s.value: status_label(s) for s in HazardStatus},
    }
    yes = _("Yes")
    zone = filters.zone
    last: tuple[datetime, int] | None = None
    while True:
        query = base
        if last is not None:
            # The first condition alone is an index range; the second breaks ties on id.
            query = query.where(
                Hazard.created_at <= last[0], or_(Hazard.created_at < last[0], Hazard.id < last[1])
            )
        rows = session.exec(query.limit(batch)).all()
        for (
            hid,
            district,
            site,
            grade,
            status,
            category,
            description,
            created,
            deadline,
            accepted,
            responsible,
            measures,
            rectifier,
            acceptor,
        ) in rows:
            is_overdue = overdue(status, deadline, today)
            yield [
                hid,
                district,
                site,
                labels.get(grade, grade),
                labels.get(status, status),
                category,
                description,
                created.astimezone(zone).replace(tzinfo=None, microsecond=0),
                deadline,
                accepted.astimezone(zone).replace(tzinfo=None, microsecond=0) if accepted else None,
                yes if is_overdue else "",
                responsible or "",
                measures or "",
                rectifier or "",
                acceptor or "",
            ]
        if len(rows) < batch:
            return
        last = (rows[-1][7], rows[-1][0])


def _csv_cell(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value  # a cell that Excel would run as a formula (CSV injection)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return value


def csv_chunks(rows: Iterable[list[Any]], chunk_rows: int = 1000) -> Iterator[bytes]:
    """UTF-8 with a byte-order mark, so that Excel opens the Chinese text correctly."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(headers())
    yield "\ufeff".encode() + buffer.getvalue().encode()
    buffer.seek(0)
    buffer.truncate()
    n = 0
    for row in rows:
        writer.writerow([_csv_cell(v) for v in row])
        n += 1
        if n % chunk_rows == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()


def xlsx_chunks(rows: Iterable[list[Any]], chunk_bytes: int = 256 * 1024) -> Iterator[bytes]:
    """An .xlsx file with a frozen header row and set column widths.

    openpyxl's write-only mode keeps rows in a temporary file rather than in memory; an .xlsx is
    a zip whose directory comes last, so the finished file is streamed from a temporary file.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_("Hazards"))
    sheet.freeze_panes = "A2"
    for i, width in enumerate(WIDTHS, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = width
    bold = Font(bold=True)
    header = []
    for title in headers():
        cell = spreadsheet.cell(sheet, title)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    for row in rows:
        sheet.append([spreadsheet.cell(sheet, v) for v in row])
    with tempfile.TemporaryFile() as fh:
        workbook.save(fh)
        fh.seek(0)
        while chunk := fh.read(chunk_bytes):
            yield chunk


def check_excel_size(session: Session, user: User, filters: HazardFilters) -> None:
    """Refuse before streaming starts: an error halfway through a download cannot change the status."""
    if count(session, user, filters) > EXCEL_MAX_ROWS:
        raise Invalid(
            _("More hazards than an Excel sheet holds: narrow the filters or export CSV.")
        )
