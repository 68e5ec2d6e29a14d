"""The rectification notice (隐患整改通知书): one printable A4 page per hazard, handed to the
enterprise, with the site, the finding and its photos, the plan (五定) and its deadline, and
room for signatures. Always one page: the content is shrunk to fit if it runs long.
"""

from __future__ import annotations

import io
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.platypus import KeepInFrame, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from sqlmodel import Session

from inspect_app.config import Settings
from inspect_app.domain import hazards, pdf, photos
from inspect_app.domain.clock import local_today
from inspect_app.i18n import _
from inspect_app.models import District, Photo, Site, User

MARGIN = 16 * mm
MAX_PHOTOS = 3
LABEL_WIDTH = 38 * mm
GRID = TableStyle(
    [
        ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
        ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#f0f3f8")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]
)


def _p(text: object, style: str = "cell") -> Paragraph:
    return Paragraph(escape(str(text or "")).replace("\n", "<br/>"), pdf.styles()[style])


def _rows(pairs: list[tuple[str, object]], width: float) -> Table:
    table = Table([[_p(k), _p(v)] for k, v in pairs], colWidths=[LABEL_WIDTH, width - LABEL_WIDTH])
    table.setStyle(GRID)
    return table


def _photo_row(settings: Settings, items: list[Photo], width: float) -> Table | None:
    cells = []
    for photo in items[:MAX_PHOTOS]:
        path = photos.path_for(settings, photo, "web")
        if path.is_file():
            cells.append(pdf.photo(path, width / MAX_PHOTOS - 4 * mm, 48 * mm))
    if not cells:
        return None
    return Table([cells], colWidths=[width / MAX_PHOTOS] * len(cells), hAlign="LEFT")


def rectification_notice(session: Session, settings: Settings, user: User, hazard_id: int) -> bytes:
    """The notice as PDF bytes, for any hazard the user may see."""
    hazard = hazards.get_hazard(session, user, hazard_id)
    site = session.get(Site, hazard.site_id)
    district = session.get(District, hazard.district_id)
    reporter = session.get(User, hazard.reporter_id)
    plan = hazards.hazard_plan(session, hazard.id)
    finding = hazards.hazard_photos(session, hazard.id, "finding")
    width = A4[0] - 2 * MARGIN
    grade = _("Major hazard") if hazard.grade == "major" else _("General hazard")

    story: list = [
        _p(_("Hazard rectification notice"), "title"),
        _p(
            _("No. {number}    Issued {day}").format(
                number=f"{district.code}-{hazard.id:06d}", day=local_today(settings.zone)
            ),
            "small",
        ),
        Spacer(1, 3 * mm),
        _p(_("To: {site}").format(site=site.name), "h2"),
        _p(
            _(
                "During inspection, the following production-safety hazard was found at your site. "
                "Rectify it as set out below by the deadline and ask for acceptance when it is done."
            ),
            "body",
        ),
        Spacer(1, 2 * mm),
        _rows(
            [
                (_("Site"), site.name),
                (_("Address"), site.address),
                (_("District"), district.name),
                (_("Grade"), grade),
                (_("Category"), hazard.category),
                (_("Found on"), local_today(settings.zone, hazard.created_at).isoformat()),
                (_("Inspector"), reporter.display_name or reporter.username if reporter else ""),
                (_("Finding"), hazard.description),
            ],
            width,
        ),
    ]
    row = _photo_row(settings, finding, width)
    if row is not None:
        story += [Spacer(1, 2 * mm), row]
    story += [Spacer(1, 2 * mm), _p(_("Rectification plan (five determinations)"), "h2")]
    if plan is None:
        story.append(_p(_("The plan has not been set yet."), "body"))
    else:
        pairs = [
            (_("Responsible person"), plan.responsible_person),
            (_("Measures"), plan.measures),
            (_("Deadline"), plan.deadline.isoformat()),
            (_("Rectified by"), plan.rectifier),
            (_("Accepted by"), plan.acceptor),
        ]
        if hazard.grade == "major":
            stop = {True: _("Yes"), False: _("No")}.get(plan.stop_production, "")
            pairs += [
                (_("Funds and materials"), plan.funds),
                (_("Safety measures meanwhile"), plan.interim_measures),
                (_("Stop production"), stop),
            ]
        story += [
            _rows(pairs, width),
            Spacer(1, 2 * mm),
            _p(_("Deadline for rectification: {day}").format(day=plan.deadline.isoformat()), "h2"),
        ]
    story += [Spacer(1, 6 * mm), _signatures(width)]

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title=_("Hazard rectification notice"),
        author="Inspect",
    )
    doc.build([KeepInFrame(width, A4[1] - 2 * MARGIN - 2 * mm, story, mode="shrink")])
    return buffer.getvalue()


def _signatures(width: float) -> Table:
    labels = [
        _("Inspecting authority (seal)"),
        _("Inspector (signature)"),
        _("Received by the site (signature)"),
    ]
    blank = _p(_("Date") + ": ______________", "small")
    table = Table(
        [[_p(label) for label in labels], [Spacer(1, 18 * mm)] * 3, [blank] * 3],
        colWidths=[width / 3] * 3,
    )
    table.setStyle(
        TableStyle(
            [
                ("BOX", (0, 0), (-1, -1), 0.5, colors.grey),
                ("INNERGRID", (0, 0), (-1, -1), 0.25, colors.lightgrey),
            ]
        )
    )
    return table
