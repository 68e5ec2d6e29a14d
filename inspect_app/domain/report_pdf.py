"""The weekly report's contents and layout (ReportLab, A4).

`gather` reads everything the report prints into plain data (hashed by the archive as the
data version); `render` lays that data out, without touching the database again. Figures come
from inspect_app.domain.stats; the lists use the same definitions (open and overdue as of the
period's end).
"""

from __future__ import annotations

import io
import math
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.shapes import Drawing, Polygon, Rect, String
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas as pdfcanvas
from reportlab.platypus import (
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)
from reportlab.platypus.flowables import CondPageBreak
from shapely.geometry import shape
from sqlalchemy import or_, true
from sqlmodel import Session, select

from inspect_app.config import DEFAULT_RISK_RULE, Settings
from inspect_app.domain import hazards, pdf, photos, plans, stats
from inspect_app.i18n import _
from inspect_app.models import District, Hazard, HazardEvent

if TYPE_CHECKING:
    from inspect_app.domain.reports import Target

MAX_LISTED = 30  # hazards per list; the rest are counted and left to the export
MAX_SITES = 60  # sites overdue for inspection listed
TREND_WEEKS = 8  # a district's report charts its last weeks instead of one bar pair
MAP_TOLERANCE = 0.002  # degrees: boundaries simplified for print (about 200 m)

LEVEL_COLOURS = {
    "red": colors.HexColor("#d32f2f"),
    "orange": colors.HexColor("#f57c00"),
    "yellow": colors.HexColor("#f9c80e"),
    "blue": colors.HexColor("#1e88e5"),
}
NEW_COLOUR, CLOSED_COLOUR = colors.HexColor("#c62828"), colors.HexColor("#2e7d32")
LINE = colors.HexColor("#b9c1cf")
HEAD_BG = colors.HexColor("#e8eef7")
OTHER_DISTRICT = colors.HexColor("#e3e7ee")


# --- gathering -------------------------------------------------------------------------------


def _hazard_item(session: Session, settings: Settings, h: Hazard, names: dict, today: date) -> dict:
    plan = hazards.hazard_plan(session, h.id)
    finding = hazards.hazard_photos(session, h.id, "finding")
    return {
        "id": h.id,
        "site": names["sites"].get(h.site_id, ""),
        "district": names["districts"].get(h.district_id, ""),
        "grade": h.grade,
        "status": h.status,
        "category": h.category,
        "description": h.description,
        "created": h.created_at.astimezone(settings.zone).date(),
        "deadline": h.deadline,
        "overdue": hazards.overdue(h.status, h.deadline, today, still_open=True),  # open at end
        "plan": None
        if plan is None
        else {
            "responsible_person": plan.responsible_person,
            "measures": plan.measures,
            "rectifier": plan.rectifier,
            "acceptor": plan.acceptor,
            "deadline": plan.deadline,
        },
        "photo": str(photos.path_for(settings, finding[0], "thumb")) if finding else None,
    }


def _hazard_list(
    session: Session, settings: Settings, query, count: int, today: date, end: datetime
) -> dict:
    rows = list(session.exec(query.limit(MAX_LISTED)).all())
    ctx = hazards.hazard_context(session, rows)
    names = {
        "sites": {k: v.name for k, v in ctx["sites"].items()},
        "districts": {k: v.name for k, v in ctx["districts"].items()},
    }
    items = [_hazard_item(session, settings, h, names, today) for h in rows]
    at_end = _status_at(session, [h.id for h in rows], end)
    for item in items:  # the status the overdue flag was judged in, not today's
        item["status"] = at_end.get(item["id"], item["status"])
    return {"count": count, "items": items}


def _status_at(session: Session, hazard_ids: list[int], end: datetime) -> dict[int, str]:
    """Each hazard's status at the period's end, from its event history (one query)."""
    if not hazard_ids:
        return {}
    events = session.exec(
        select(HazardEvent.hazard_id, HazardEvent.to_status)
        .where(HazardEvent.hazard_id.in_(hazard_ids), HazardEvent.at < end)
        .order_by(HazardEvent.at, HazardEvent.id)
    ).all()
    return dict(events)  # the last event before the end wins


def _open_at(target: Target, end: datetime):
    """Hazards open at the period's end: stats' definition of open."""
    query = select(Hazard).where(
        Hazard.created_at < end, or_(Hazard.accepted_at.is_(None), Hazard.accepted_at >= end)
    )
    if target.district is not None:
        query = query.where(Hazard.district_id == target.district.id)
    return query


def _uncovered_sites(session: Session, target: Target, end: datetime) -> dict:
    """Sites not inspected within their cadence at the period's end (stats' coverage rule)."""
    names = {d.id: d.name for d in session.exec(select(District)).all()}
    due = []
    for site, last in stats.last_inspections(
        session, end, target.district.id if target.district else None
    ):
        if not stats.is_covered(site, last, end):
            due.append(
                {
                    "site": site.name,
                    "district": names.get(site.district_id, ""),
                    "risk_class": site.risk_class,
                    "cadence": site.cadence_days,
                    "last": last.astimezone(target.zone).date() if last else None,
                    "days": (end - last).days if last else None,
                }
            )
    due.sort(key=lambda s: (s["days"] is not None, -(s["days"] or 0), s["district"], s["site"]))
    return {"count": len(due), "items": due[:MAX_SITES]}


def _map(session: Session, rows: list[stats.DistrictStats]) -> list[dict]:
    levels = {r.district_id: r.risk_level for r in rows}
    shapes = []
    for d in session.exec(select(District).order_by(District.code)).all():
        if not d.boundary:
            continue
        geom = shape(d.boundary).simplify(MAP_TOLERANCE, preserve_topology=True)
        polygons = list(geom.geoms) if geom.geom_type == "MultiPolygon" else [geom]
        shapes.append(
            {
                "id": d.id,
                "name": d.name,
                "level": levels.get(d.id),
                "area": geom.area,
                "rings": [
                    [(round(x, 4), round(y, 4)) for x, y in p.exterior.coords] for p in polygons
                ],
                "label": (d.centroid_lon, d.centroid_lat)
                if d.centroid_lon is not None
                else (geom.representative_point().x, geom.representative_point().y),
            }
        )
    return sorted(
        shapes, key=lambda s: -s["area"]
    )  # large first, so enclosed districts stay visible


def gather(session: Session, settings: Settings, target: Target) -> dict[str, Any]:
    """Everything the report prints, as plain data."""
    district_id = target.district.id if target.district else None
    week, until = target.week, target.until
    previous = week.previous()
    calendar = {"zone": settings.zone, "rule": stats.rule_of(settings)}
    rows = stats.district_stats(
        session, **calendar, since=week.start, until=until, district_id=district_id
    )
    prev_rows = stats.district_stats(
        session, **calendar, since=previous.start, until=previous.end, district_id=district_id
    )
    _start, end = target.bounds_utc()
    open_at_end = _open_at(target, end)
    order = (Hazard.deadline.is_(None), Hazard.deadline, Hazard.created_at, Hazard.id)
    major = open_at_end.where(Hazard.grade == "major")
    overdue = open_at_end.where(hazards.overdue_clause(until, still_open=true()))
    rule = calendar["rule"]
    total, prev_total = stats.city_totals(rows, rule), stats.city_totals(prev_rows, rule)
    if district_id is None:
        chart = {
            "kind": "districts",
            "labels": [r.name for r in rows],
            "new": [r.new for r in rows],
            "closed": [r.closed for r in rows],
        }
    else:
        series = stats.weekly_series(
            session, zone=settings.zone, weeks=TREND_WEEKS, until=until, district_id=district_id
        )
        chart = {
            "kind": "weeks",
            "labels": [p.week[-3:] for p in series],
            "new": [p.new for p in series],
            "closed": [p.closed for p in series],
        }
    return {
        "week": week.label,
        "since": week.start,
        "until": until,
        "finished": target.finished,
        "district": target.district.name if target.district else None,
        "previous": previous.label,
        "rows": [r.as_dict() for r in rows],
        "total": total.as_dict(),
        "prev_total": prev_total.as_dict(),
        "chart": chart,
        "map": _map(session, rows),
        "rule": settings.risk_rule,
        "major": _hazard_list(session, settings, major.order_by(*order), total.major, until, end),
        "overdue": _hazard_list(
            session, settings, overdue.order_by(*order), total.overdue, until, end
        ),
        "uncovered": _uncovered_sites(session, target, end),
        "plans": [
            {
                "name": p.plan.name,
                "template": p.template_name,
                "district": p.district_name,
                "starts": p.plan.starts,
                "ends": p.plan.ends,
                "total": p.sites_total,
                "done": p.sites_done,
            }
            for p in plans.for_period(session, week.start, until, district_id, end)
        ],
    }


# --- layout ----------------------------------------------------------------------------------


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _change(now: float | int | None, before: float | int | None, rate: bool = False) -> str:
    if now is None or before is None:
        return "—"
    if rate:
        delta = round((now - before) * 100, 1)
        return _("{delta} pts").format(delta=f"{delta:+.1f}") if delta else "0"
    delta = now - before
    return f"{delta:+d}" if delta else "0"


def _level_name(level: str | None) -> str:
    return {"red": _("Red"), "orange": _("Orange"), "yellow": _("Yellow"), "blue": _("Blue")}.get(
        level or "", ""
    )


def _grade_name(grade: str) -> str:
    return _("Major") if grade == "major" else _("General")


def _table(
    data: list[list[Any]], widths: list[float], *, header_rows: int = 1, extra: list | None = None
) -> Table:
    cell = pdf.styles()["cell"]
    head = [
        [Paragraph(h, cell) if isinstance(h, str) else h for h in row] for row in data[:header_rows]
    ]
    table = Table(head + data[header_rows:], colWidths=widths, repeatRows=header_rows)
    style = [
        ("FONTNAME", (0, 0), (-1, -1), pdf.register_font()),
        ("FONTSIZE", (0, 0), (-1, -1), 9),
        ("GRID", (0, 0), (-1, -1), 0.4, LINE),
        ("BACKGROUND", (0, 0), (-1, header_rows - 1), HEAD_BG),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("ALIGN", (1, 0), (-1, -1), "CENTER"),
        ("TOPPADDING", (0, 0), (-1, -1), 3),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
    ]
    table.setStyle(TableStyle(style + (extra or [])))
    return table


def _key_figures(data: dict, width: float) -> Table:
    now, before = data["total"], data["prev_total"]
    lines = [
        (_("New hazards"), "new", False),
        (_("Closed (accepted)"), "closed", False),
        (_("Open at the end of the period"), "open", False),
        (_("Open major hazards"), "major", False),
        (_("Overdue"), "overdue", False),
        (_("Rectification rate"), "rectification_rate", True),
        (_("Coverage"), "coverage", True),
    ]
    rows = [
        [
            _("Figure"),
            _("This week"),
            _("Previous week ({week})").format(week=data["previous"]),
            _("Change"),
        ]
    ]
    for label, key, rate in lines:
        show = _percent if rate else str
        rows.append(
            [label, show(now[key]), show(before[key]), _change(now[key], before[key], rate)]
        )
    return _table(
        rows,
        [width * 0.4, width * 0.2, width * 0.22, width * 0.18],
        extra=[
            ("ALIGN", (0, 0), (0, -1), "LEFT"),
            ("FONTSIZE", (0, 0), (-1, -1), 10.5),
            ("TOPPADDING", (0, 0), (-1, -1), 5),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 5),
        ],
    )


def _district_table(data: dict, width: float) -> Table:
    head = [
        _("District"),
        _("New"),
        _("Closed"),
        _("Open"),
        _("Major"),
        _("General"),
        _("Overdue"),
        _("Rectification rate"),
        _("Coverage"),
        _("Risk level"),
    ]
    totals = [data["total"]] if data["district"] is None else []  # a district's report has one row
    body = []
    for r in [*data["rows"], *totals]:
        body.append(
            [
                r["name"],
                r["new"],
                r["closed"],
                r["open"],
                r["major"],
                r["general"],
                r["overdue"],
                _percent(r["rectification_rate"]),
                _percent(r["coverage"]),
                _level_name(r["risk_level"]),
            ]
        )
    extra = [
        ("ALIGN", (0, 0), (0, -1), "LEFT"),
        ("LEFTPADDING", (1, 0), (-1, -1), 3),
        ("RIGHTPADDING", (1, 0), (-1, -1), 3),
    ]
    if totals:
        extra.append(("BACKGROUND", (0, len(body)), (-1, len(body)), HEAD_BG))
    for i, r in enumerate(data["rows"], start=1):
        colour = LEVEL_COLOURS.get(r["risk_level"])
        if colour is not None:
            text = colors.black if r["risk_level"] == "yellow" else colors.white
            extra += [
                ("BACKGROUND", (-1, i), (-1, i), colour),
                ("TEXTCOLOR", (-1, i), (-1, i), text),
            ]
    number, rate, level = 15.5 * mm, 17 * mm, 16 * mm
    widths = [width - 6 * number - 2 * rate - level, *[number] * 6, rate, rate, level]
    return _table([head, *body], widths, extra=extra)


def _nice_step(peak: int) -> int:
    """An axis step of 1, 2 or 5 times a power of ten giving about five gridlines."""
    magnitude = 10 ** max(0, math.floor(math.log10(max(peak / 5, 1))))
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude * 5 >= peak)


def _chart(data: dict, width: float) -> Drawing:
    font = pdf.register_font()
    chart_data = data["chart"]
    height = 62 * mm
    drawing = Drawing(width, height)
    bars = VerticalBarChart()
    bars.x, bars.y = 28, 40
    bars.width, bars.height = width - 40, height - 62
    bars.data = [chart_data["new"], chart_data["closed"]]
    bars.categoryAxis.categoryNames = chart_data["labels"]
    bars.categoryAxis.labels.fontName = font
    bars.categoryAxis.labels.fontSize = 7.5
    bars.categoryAxis.labels.angle = 30 if len(chart_data["labels"]) > 8 else 0
    bars.categoryAxis.labels.boxAnchor = "ne" if len(chart_data["labels"]) > 8 else "n"
    bars.valueAxis.labels.fontName = font
    bars.valueAxis.labels.fontSize = 7.5
    bars.valueAxis.valueMin = 0
    peak = max([*chart_data["new"], *chart_data["closed"], 1])
    step = _nice_step(peak)
    bars.valueAxis.valueMax = math.ceil(peak * 1.1 / step) * step
    bars.valueAxis.valueStep = step
    bars.valueAxis.visibleGrid = True
    bars.valueAxis.gridStrokeColor = colors.HexColor("#e3e7ee")
    bars.bars[0].fillColor, bars.bars[1].fillColor = NEW_COLOUR, CLOSED_COLOUR
    bars.bars.strokeWidth = 0
    bars.barLabels.fontName = font
    bars.barLabels.fontSize = 6
    bars.barLabels.nudge = 5
    bars.barLabelFormat = "%d"
    bars.groupSpacing = 6
    drawing.add(bars)
    legend = Legend()
    legend.x, legend.y = 30, height - 6
    legend.fontName, legend.fontSize = font, 8.5
    legend.alignment = "right"
    legend.columnMaximum = 1
    legend.deltax = 70
    legend.colorNamePairs = [(NEW_COLOUR, _("New")), (CLOSED_COLOUR, _("Closed"))]
    drawing.add(legend)
    return drawing


def _map_drawing(data: dict, width: float) -> Drawing:
    """The district polygons in their four-colour levels (equirectangular, no tiles)."""
    font = pdf.register_font()
    shapes = data["map"]
    points = [pt for s in shapes for ring in s["rings"] for pt in ring]
    legend_h = 16 * mm
    if not points:
        return Drawing(width, legend_h)
    lons, lats = [p[0] for p in points], [p[1] for p in points]
    kx = math.cos(math.radians((min(lats) + max(lats)) / 2))
    span_x, span_y = (max(lons) - min(lons)) * kx or 1, (max(lats) - min(lats)) or 1
    map_h = min(120 * mm, width * span_y / span_x)
    scale = min(width / span_x, map_h / span_y)
    off_x = (width - span_x * scale) / 2

    def xy(lon: float, lat: float) -> tuple[float, float]:
        return off_x + (lon - min(lons)) * kx * scale, legend_h + (lat - min(lats)) * scale

    drawing = Drawing(width, map_h + legend_h)
    for s in shapes:
        fill = LEVEL_COLOURS.get(s["level"], OTHER_DISTRICT)
        for ring in s["rings"]:
            flat = [c for pt in ring for c in xy(*pt)]
            drawing.add(Polygon(flat, fillColor=fill, strokeColor=colors.white, strokeWidth=0.8))
    for s in shapes:
        x, y = xy(*s["label"])
        size = 7 if s["area"] * kx * scale * scale < (20 * mm) ** 2 else 8.5
        colour = colors.black if s["level"] in ("yellow", None) else colors.white
        drawing.add(
            String(
                x,
                y - size / 3,
                s["name"],
                fontName=font,
                fontSize=size,
                fillColor=colour,
                textAnchor="middle",
            )
        )
    counts = {
        level: sum(1 for r in data["rows"] if r["risk_level"] == level) for level in LEVEL_COLOURS
    }
    x = 0.0
    for level, colour in LEVEL_COLOURS.items():
        drawing.add(Rect(x, legend_h - 8 * mm, 4 * mm, 4 * mm, fillColor=colour, strokeColor=None))
        label = _("{level}: {n} districts").format(level=_level_name(level), n=counts[level])
        drawing.add(String(x + 5.5 * mm, legend_h - 7.2 * mm, label, fontName=font, fontSize=8.5))
        x += width / 4
    return drawing


def _rule_text(rule: str) -> str:
    if rule == DEFAULT_RISK_RULE:
        return _(
            "Red: an open major hazard. Orange: open general hazards, at least one overdue. "
            "Yellow: open general hazards, none overdue. Blue: no open hazards."
        )
    return _("Four-colour rule: {rule}").format(rule=rule)


def _hazard_block(item: dict, width: float) -> KeepTogether:
    st = pdf.styles()
    photo_w = 42 * mm
    title = "#{id} {site}（{district}） · {grade} · {status}".format(
        id=item["id"],
        site=_escape(item["site"]),
        district=_escape(item["district"]),
        grade=_grade_name(item["grade"]),
        status=_("{status} at the period's end").format(
            status=hazards.status_label(item["status"])
        ),
    )
    if item["overdue"]:
        title += ' · <font color="#c62828">{}</font>'.format(_("Overdue"))
    lines = [
        Paragraph(f"<b>{title}</b>", st["cell"]),
        Paragraph(
            _("Finding: {text}").format(text=_escape(item["description"] or "—")), st["cell"]
        ),
    ]
    facts = _("Reported: {date}").format(date=item["created"])
    if item["category"]:
        facts += " · " + _("Category: {category}").format(category=_escape(item["category"]))
    facts += " · " + _("Deadline: {date}").format(date=item["deadline"] or "—")
    lines.append(Paragraph(facts, st["cell"]))
    plan = item["plan"]
    if plan:
        lines.append(
            Paragraph(
                _(
                    "Plan: responsible {person}; rectifier {rectifier}; acceptor {acceptor}; measures: {measures}"
                ).format(
                    person=_escape(plan["responsible_person"]),
                    rectifier=_escape(plan["rectifier"]),
                    acceptor=_escape(plan["acceptor"]),
                    measures=_escape(plan["measures"]),
                ),
                st["cell"],
            )
        )
    else:
        lines.append(
            Paragraph(
                '<font color="#c62828">{}</font>'.format(_("No rectification plan yet.")),
                st["cell"],
            )
        )
    picture: Any = Paragraph(_("No photo"), st["small"])
    if item["photo"]:
        try:
            picture = pdf.photo(item["photo"], photo_w - 4, 32 * mm)
        except OSError:
            picture = Paragraph(_("Photo file missing"), st["small"])
    table = Table([[picture, lines]], colWidths=[photo_w, width - photo_w])
    table.setStyle(
        TableStyle(
            [
                ("BOX", (0, 0), (-1, -1), 0.4, LINE),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (0, 0), 2),
                ("TOPPADDING", (0, 0), (-1, -1), 3),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    return KeepTogether([table, Spacer(1, 2.5 * mm)])


def _escape(text: str) -> str:
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _hazard_section(title: str, listing: dict, width: float, empty: str) -> list:
    st = pdf.styles()
    story: list = [CondPageBreak(60 * mm), Paragraph(f"{title}（{listing['count']}）", st["h2"])]
    if not listing["items"]:
        story.append(Paragraph(empty, st["body"]))
    story += [_hazard_block(item, width) for item in listing["items"]]
    if listing["count"] > len(listing["items"]):
        story.append(
            Paragraph(
                _("{shown} of {count} shown; the full list is in the hazard export.").format(
                    shown=len(listing["items"]), count=listing["count"]
                ),
                st["small"],
            )
        )
    return story


def _coverage_section(data: dict, width: float) -> list:
    st = pdf.styles()
    uncovered = data["uncovered"]
    story: list = [
        CondPageBreak(50 * mm),
        Paragraph(
            _("Coverage: sites overdue for inspection ({count})").format(count=uncovered["count"]),
            st["h2"],
        ),
    ]
    if not uncovered["items"]:
        return story + [Paragraph(_("Every site was inspected within its cadence."), st["body"])]
    rows = [
        [
            _("Site"),
            _("District"),
            _("Risk class"),
            _("Cadence (days)"),
            _("Last inspected"),
            _("Days since"),
        ]
    ]
    for s in uncovered["items"]:
        rows.append(
            [
                Paragraph(_escape(s["site"]), st["cell"]),
                s["district"],
                s["risk_class"],
                s["cadence"],
                s["last"] or _("Never"),
                s["days"] if s["days"] is not None else "—",
            ]
        )
    story.append(
        _table(
            rows,
            [width * 0.34, width * 0.14, width * 0.1, width * 0.14, width * 0.16, width * 0.12],
            extra=[("ALIGN", (0, 0), (0, -1), "LEFT")],
        )
    )
    if uncovered["count"] > len(uncovered["items"]):
        story.append(
            Paragraph(
                _("{shown} of {count} shown.").format(
                    shown=len(uncovered["items"]), count=uncovered["count"]
                ),
                st["small"],
            )
        )
    return story


def _plans_section(data: dict, width: float) -> list:
    """Inspection plans whose window overlaps the period, with progress at the period's end."""
    st = pdf.styles()
    story: list = [CondPageBreak(40 * mm), Paragraph(_("Inspection plans"), st["h2"])]
    if not data["plans"]:
        return story + [Paragraph(_("No inspection plan ran in this period."), st["body"])]
    rows = [[_("Plan"), _("Checklist"), _("Dates"), _("Sites done"), _("Progress")]]
    for p in data["plans"]:
        share = p["done"] / p["total"] if p["total"] else None
        rows.append(
            [
                Paragraph(
                    _escape(p["name"]) + (f"（{_escape(p['district'])}）" if p["district"] else ""),
                    st["cell"],
                ),
                Paragraph(_escape(p["template"]), st["cell"]),
                f"{p['starts']} – {p['ends']}",
                f"{p['done']} / {p['total']}",
                _percent(share),
            ]
        )
    story.append(
        _table(
            rows,
            [width * 0.32, width * 0.22, width * 0.24, width * 0.11, width * 0.11],
            extra=[("ALIGN", (0, 0), (1, -1), "LEFT")],
        )
    )
    story.append(
        Paragraph(
            _(
                "A site is done when an inspection of it with the plan's checklist was submitted "
                "within the plan's dates, by the end of the period."
            ),
            st["small"],
        )
    )
    return story


def _period(data: dict) -> str:
    text = _("{since} to {until}").format(since=data["since"], until=data["until"])
    if not data["finished"]:
        text += " " + _("(week in progress, figures so far)")
    return text


def _scope(data: dict) -> str:
    return data["district"] or _("Whole city")


def _cover(data: dict, now: datetime, width: float) -> list:
    st = pdf.styles()
    year, number = data["week"].split("-W")
    return [
        Spacer(1, 30 * mm),
        Paragraph(_("Work-safety inspection weekly report"), st["title"]),
        Paragraph(_scope(data), st["title"]),
        Spacer(1, 6 * mm),
        Paragraph(
            _("Week {number} of {year} ({week})").format(
                number=int(number), year=year, week=data["week"]
            ),
            _centred(st["h2"]),
        ),
        Paragraph(_period(data), _centred(st["body"])),
        Paragraph(
            _("Generated {time}").format(time=now.strftime("%Y-%m-%d %H:%M")),
            _centred(st["small"]),
        ),
        Spacer(1, 14 * mm),
        Paragraph(_("Key figures"), st["h2"]),
        _key_figures(data, width),
        Spacer(1, 3 * mm),
        Paragraph(
            _(
                "Open, major and overdue count hazards still open at the end of the period; the change "
                "is against the previous week."
            ),
            st["small"],
        ),
        PageBreak(),
    ]


def _centred(style):
    return style.clone(style.name + "-centred", alignment=TA_CENTER)


def _numbered_canvas(header: str):
    """A canvas that holds the pages until the end, so each footer can say 'page n of m'."""

    class NumberedCanvas(pdfcanvas.Canvas):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._saved: list[dict] = []

        def showPage(self):
            self._saved.append(dict(self.__dict__))
            self._startPage()

        def save(self):
            total = len(self._saved)
            for n, state in enumerate(self._saved, start=1):
                self.__dict__.update(state)
                self.setFont(pdf.register_font(), 8)
                self.setFillColor(colors.HexColor("#5d6677"))
                self.drawCentredString(
                    A4[0] / 2, 10 * mm, _("Page {n} of {total}").format(n=n, total=total)
                )
                if n > 1:
                    self.drawString(18 * mm, A4[1] - 11 * mm, header)
                    self.setStrokeColor(LINE)
                    self.line(18 * mm, A4[1] - 12.5 * mm, A4[0] - 18 * mm, A4[1] - 12.5 * mm)
                super().showPage()
            super().save()

    return NumberedCanvas


def render(settings: Settings, target: Target, data: dict, *, now: datetime) -> bytes:
    """The report as PDF bytes (A4 portrait, CJK font embedded as a subset)."""
    st = pdf.styles()
    buffer = io.BytesIO()
    title = "{} · {} · {}".format(
        _("Work-safety inspection weekly report"), _scope(data), data["week"]
    )
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        title=title,
        author="Inspect",
        subject=_period(data),
    )
    width = doc.width
    chart_title = (
        _("New and closed hazards by district")
        if data["chart"]["kind"] == "districts"
        else _("New and closed hazards, last {n} weeks").format(n=len(data["chart"]["labels"]))
    )
    story = [
        *_cover(data, now.astimezone(settings.zone), width),
        Paragraph(_("Districts") if data["district"] is None else data["district"], st["h2"]),
        _district_table(data, width),
        Spacer(1, 4 * mm),
        KeepTogether([Paragraph(chart_title, st["h2"]), _chart(data, width)]),
        KeepTogether(
            [
                Paragraph(_("Four-colour risk map"), st["h2"]),
                _map_drawing(data, width),
                Paragraph(_rule_text(data["rule"]), st["small"]),
            ]
        ),
        *_hazard_section(
            _("Open major hazards"), data["major"], width, _("No open major hazards.")
        ),
        *_hazard_section(_("Overdue hazards"), data["overdue"], width, _("No overdue hazards.")),
        *_coverage_section(data, width),
        *_plans_section(data, width),
    ]
    doc.build(story, canvasmaker=_numbered_canvas(title))
    return buffer.getvalue()
