"""Districts and their boundaries (GeoJSON, WGS-84): import, validation, point-in-district."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from shapely import prepared
from shapely.geometry import Point, shape
from shapely.validation import explain_validity
from sqlalchemy import Integer, Text, case, cast, func
from sqlmodel import Session, select

from inspect_app.domain import audit
from inspect_app.domain.clock import local_today
from inspect_app.domain.errors import Invalid
from inspect_app.domain.transactions import user_action
from inspect_app.i18n import _
from inspect_app.models import District, Hazard, HazardPhoto, Site, User

# A district code names files (reports, exports) and sorts lists: short, ASCII, no quotes.
DISTRICT_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,19}")


def read_geojson(data: bytes) -> Any:
    """The JSON of an uploaded GeoJSON file, or Invalid (not UTF-8, not JSON, nested too deep)."""
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise Invalid(_("Cannot read the GeoJSON file: {why}").format(why=exc)) from exc
    except RecursionError as exc:
        raise Invalid(_("Cannot read the GeoJSON file: it is nested too deeply.")) from exc


def parse_districts_geojson(data: Any) -> list[dict[str, Any]]:
    """Validate a FeatureCollection of district polygons; all problems are reported at once."""
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise Invalid(_("The file is not a GeoJSON FeatureCollection."))
    features = data.get("features")
    if not isinstance(features, list):
        raise Invalid(_("The file's features must be a list."))
    problems: list[str] = []
    parsed: list[dict[str, Any]] = []
    for n, feature in enumerate(features, start=1):
        props = feature.get("properties") if isinstance(feature, dict) else None
        if not isinstance(props, dict):
            problems.append(_("Feature {n}: not a feature with properties.").format(n=n))
            continue
        name = str(props.get("name") or "").strip()
        code = str(props.get("adcode") or props.get("code") or "").strip()
        label = name or f"#{n}"
        if not name:
            problems.append(_("Feature {n}: no name property.").format(n=n))
        elif len(name) > 100:
            problems.append(_("Feature {n}: the name is longer than 100 characters.").format(n=n))
        if not DISTRICT_CODE.fullmatch(code):
            problems.append(
                _(
                    "{name}: the code (adcode) must be 1 to 20 ASCII letters, digits, '.', '-' or '_'."
                ).format(name=label)
            )
        try:
            geom = shape(feature.get("geometry") or {})
        except Exception:  # shapely raises several types for malformed geometry
            problems.append(_("{name}: the geometry cannot be read.").format(name=label))
            continue
        if geom.geom_type not in ("Polygon", "MultiPolygon"):
            problems.append(_("{name}: not a polygon.").format(name=label))
            continue
        if not geom.is_valid:
            problems.append(
                _("{name}: invalid polygon ({why}).").format(name=label, why=explain_validity(geom))
            )
            continue
        minx, miny, maxx, maxy = geom.bounds
        if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
            problems.append(_("{name}: coordinates are not longitude/latitude.").format(name=label))
            continue
        parsed.append({"name": name, "code": code, "geometry": geom})
    if not parsed and not problems:
        problems.append(_("The file holds no districts."))
    for field in ("name", "code"):
        values = [p[field] for p in parsed]
        for twice in sorted({v for v in values if values.count(v) > 1}):
            problems.append(_("{value} appears twice in the file.").format(value=twice))
    for i, a in enumerate(parsed):
        for b in parsed[i + 1 :]:
            if a["geometry"].intersects(b["geometry"]):
                overlap = a["geometry"].intersection(b["geometry"]).area
                if overlap > 1e-9:
                    problems.append(_("{a} and {b} overlap.").format(a=a["name"], b=b["name"]))
    if problems:
        raise Invalid(_("The district file has problems; nothing was imported."), errors=problems)
    return parsed


@user_action
def import_districts(
    session: Session, data: dict[str, Any], actor_id: int | None = None
) -> tuple[int, int]:
    """Create or update districts by name. Returns (added, updated); an admin's import is audited."""
    added = updated = 0
    for entry in parse_districts_geojson(data):
        geom = entry["geometry"]
        point = geom.representative_point()
        district = session.exec(select(District).where(District.name == entry["name"])).first()
        if district is None:
            district = District(name=entry["name"], code=entry["code"])
            added += 1
        else:
            updated += 1
        district.code = entry["code"]
        district.boundary = json.loads(json.dumps(geom.__geo_interface__))
        district.centroid_lat = round(point.y, 6)
        district.centroid_lon = round(point.x, 6)
        session.add(district)
    if actor_id is not None:
        audit.record(
            session,
            actor_id,
            "district.import",
            "district",
            None,
            {"added": added, "updated": updated},
        )
    session.commit()
    return added, updated


def import_districts_file(session: Session, path: Path) -> tuple[int, int]:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise Invalid(_("Cannot read the GeoJSON file: {why}").format(why=exc)) from exc
    return import_districts(session, read_geojson(data))


_boundary_cache: dict[tuple, list] = {}


def _prepared_boundaries(session: Session) -> list:
    """Prepared district polygons, rebuilt only when the districts change.

    The key (ids, names, centroids) is a cheap query; a new boundary moves the centroid, so a
    boundary imported by another process is noticed without reading every polygon each call.
    """
    key = tuple(
        session.exec(
            select(
                District.id, District.name, District.centroid_lat, District.centroid_lon
            ).order_by(District.id)
        ).all()
    )
    if key not in _boundary_cache:
        rows = session.exec(select(District.id, District.boundary).order_by(District.id)).all()
        _boundary_cache.clear()
        _boundary_cache[key] = [(i, prepared.prep(shape(b))) for i, b in rows if b]
    return _boundary_cache[key]


def district_at(session: Session, lat: float, lon: float) -> int | None:
    """The id of the district whose boundary holds the point, if any."""
    return district_locator(session)(lat, lon)


def district_locator(session: Session) -> Callable[[float, float], int | None]:
    """district_at for many points (an import): the boundaries are looked up once."""
    boundaries = _prepared_boundaries(session)

    def locate(lat: float, lon: float) -> int | None:
        point = Point(lon, lat)
        for district_id, geom in boundaries:
            if geom.contains(point):
                return district_id
        return None

    return locate


def districts_geojson(session: Session) -> dict[str, Any]:
    features = [
        {
            "type": "Feature",
            "id": d.id,
            "properties": {"id": d.id, "name": d.name, "code": d.code},
            "geometry": d.boundary,
        }
        for d in session.exec(select(District).order_by(District.code)).all()
        if d.boundary
    ]
    return {"type": "FeatureCollection", "features": features}


# --- the hazard map: display coordinates, district layer, server-side clustering ---------------

_GCJ_A = 6378245.0
_GCJ_EE = 0.00669342162296594323


def _out_of_china(lat: float, lon: float) -> bool:
    return not (72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _gcj_delta(lat: float, lon: float) -> tuple[float, float]:
    x, y = lon - 105.0, lat - 35.0
    dlat = (
        -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * math.sqrt(abs(x))
        + (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
        + (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
        + (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    )
    dlon = (
        300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * math.sqrt(abs(x))
        + (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
        + (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
        + (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    )
    rad = lat / 180.0 * math.pi
    magic = 1 - _GCJ_EE * math.sin(rad) ** 2
    dlat = (dlat * 180.0) / ((_GCJ_A * (1 - _GCJ_EE)) / (magic * math.sqrt(magic)) * math.pi)
    dlon = (dlon * 180.0) / (_GCJ_A / math.sqrt(magic) * math.cos(rad) * math.pi)
    return dlat, dlon


def wgs84_to_gcj02(lat: float, lon: float) -> tuple[float, float]:
    """The standard (public) WGS-84 -> GCJ-02 offset used by Chinese tile providers.
    Display only: stored coordinates stay WGS-84. Outside China the point is unchanged."""
    if _out_of_china(lat, lon):
        return lat, lon
    dlat, dlon = _gcj_delta(lat, lon)
    return lat + dlat, lon + dlon


def gcj02_to_wgs84(lat: float, lon: float) -> tuple[float, float]:
    """Inverse by fixed-point iteration (good to ~1 cm), for a map's bounding box."""
    wlat, wlon = lat, lon
    for _step in range(4):
        glat, glon = wgs84_to_gcj02(wlat, wlon)
        wlat, wlon = wlat + (lat - glat), wlon + (lon - glon)
    return wlat, wlon


def _display(crs: str):
    """A function (lat, lon) -> [lon, lat] in the display datum, rounded (~1 m) to keep it small."""

    def convert(lat: float, lon: float) -> list[float]:
        if crs == "gcj02":
            lat, lon = wgs84_to_gcj02(lat, lon)
        return [round(lon, 5), round(lat, 5)]

    return convert


def _map_coords(coords, convert):
    if coords and isinstance(coords[0], (int, float)):
        return convert(coords[1], coords[0])
    return [_map_coords(c, convert) for c in coords]


@dataclass(frozen=True)
class BBox:
    west: float
    south: float
    east: float
    north: float


def parse_bbox(text: str | None, crs: str = "wgs84") -> BBox | None:
    """'west,south,east,north' in degrees (Leaflet's toBBoxString), in the display datum."""
    if text is None or text == "":
        return None
    try:
        west, south, east, north = (float(p) for p in text.split(","))
    except ValueError:
        raise Invalid(_("bbox must be four numbers: west,south,east,north.")) from None
    if not all(math.isfinite(v) for v in (west, south, east, north)) or not (
        -180 <= west < east <= 180 and -90 <= south < north <= 90
    ):
        raise Invalid(_("bbox is out of range or inverted (west,south,east,north)."))
    if crs == "gcj02":
        south, west = gcj02_to_wgs84(south, west)
        north, east = gcj02_to_wgs84(north, east)
    return BBox(west, south, east, north)


def district_layer(session: Session, rows, crs: str = "wgs84") -> dict[str, Any]:
    """The districts of `rows` (stats.DistrictStats) as polygons carrying their figures and
    risk level: the base map."""
    by_id = {r.district_id: r for r in rows}
    convert = _display(crs)
    query = (
        select(
            District.id, District.centroid_lat, District.centroid_lon, cast(District.boundary, Text)
        )
        .where(District.id.in_(by_id), District.boundary.is_not(None))
        .order_by(District.code)
    )
    features = []
    for did, clat, clon, boundary in session.exec(query).all():
        features.append(
            {
                "type": "Feature",
                "id": did,
                "properties": {
                    **by_id[did].as_dict(),
                    "centroid": convert(clat, clon) if clat is not None else None,
                },
                "geometry": _display_boundary(boundary, crs),
            }
        )
    return {"type": "FeatureCollection", "features": features}


@lru_cache(maxsize=64)
def _display_boundary(boundary: str, crs: str) -> dict[str, Any]:
    """A boundary simplified to ~50 m (plenty at city zoom, a fraction of the bytes) in the
    display datum; cached by the stored text, so an edited boundary is a new entry."""
    geometry = (
        shape(json.loads(boundary)).simplify(0.0005, preserve_topology=True).__geo_interface__
    )
    return {
        "type": geometry["type"],
        "coordinates": _map_coords(geometry["coordinates"], _display(crs)),
    }


CELL_PX = 64  # a cluster covers about this many screen pixels
POINT_LIMIT = 200  # at most this many hazards in view: send them one by one
MAX_ZOOM = 22


def cell_degrees(zoom: int) -> float:
    return 360.0 / (2**zoom) * CELL_PX / 256.0


def hazard_map(
    session: Session,
    user: User,
    filters,
    *,
    zoom: int,
    bbox: BBox | None = None,
    crs: str = "wgs84",
    today: date | None = None,
) -> dict[str, Any]:
    """Visible hazards matching the hazard-list filters, as GeoJSON: clusters of a grid of
    CELL_PX pixels at this zoom (GROUP BY cell in SQL) or, when at most POINT_LIMIT are in
    view, the hazards themselves with what a popup needs. A hazard without its own position
    is drawn at its site."""
    from inspect_app.domain import hazards as hz  # here: hazards may import geo (district_at)

    if not 0 <= zoom <= MAX_ZOOM:
        raise Invalid(_("zoom must be between 0 and {max}.").format(max=MAX_ZOOM))
    today = today or local_today(filters.zone)
    lat = func.coalesce(Hazard.lat, Site.lat)
    lon = func.coalesce(Hazard.lon, Site.lon)
    base = hz.apply_filters(hz.visible_hazards_query(user), filters.check(), today)
    # An outer join keeps the hazard as the driving table (SQLite never reorders it), so the
    # status/filter indexes choose the rows instead of a walk over every site's hazards.
    base = base.join(Site, Site.id == Hazard.site_id, isouter=True).where(
        lat.is_not(None), lon.is_not(None)
    )
    if bbox:
        base = base.where(lat >= bbox.south, lat <= bbox.north, lon >= bbox.west, lon <= bbox.east)
    cell = cell_degrees(zoom)
    if session.get_bind().dialect.name == "sqlite":  # both are positive: truncation is floor
        gx, gy = cast((lon + 180) / cell, Integer), cast((lat + 90) / cell, Integer)
    else:
        gx, gy = func.floor((lon + 180) / cell), func.floor((lat + 90) / cell)
    is_major = case((Hazard.grade == "major", 1), else_=0)
    is_overdue = case((hz.overdue_clause(today), 1), else_=0)
    # execute, not exec: the hazard query narrowed to other columns must still return rows.
    cells = session.execute(
        base.with_only_columns(
            func.count(), func.avg(lat), func.avg(lon), func.sum(is_major), func.sum(is_overdue)
        ).group_by(gx, gy)
    ).all()
    total = sum(c[0] for c in cells)
    convert = _display(crs)
    if total > POINT_LIMIT and zoom < MAX_ZOOM:
        features = [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": convert(clat, clon)},
                "properties": {
                    "cluster": True,
                    "count": n,
                    "major": major or 0,
                    "overdue": overdue or 0,
                },
            }
            for n, clat, clon, major, overdue in cells
        ]
        return {
            "type": "FeatureCollection",
            "features": features,
            "total": total,
            "clustered": True,
            "zoom": zoom,
        }
    rows = session.execute(
        base.with_only_columns(Hazard, Site.name, lat, lon).order_by(Hazard.id)
    ).all()
    thumbs = _first_finding_photos(session, [h.id for h, *_ in rows])
    features = [
        {
            "type": "Feature",
            "id": h.id,
            "geometry": {"type": "Point", "coordinates": convert(plat, plon)},
            "properties": {
                "id": h.id,
                "grade": h.grade,
                "status": h.status,
                "overdue": hz.is_overdue(h, today),
                "category": h.category,
                "description": h.description[:120],
                "site": site_name,
                "deadline": h.deadline.isoformat() if h.deadline else None,
                "thumb_url": f"/photos/{thumbs[h.id]}/thumb" if h.id in thumbs else None,
                "url": f"/hazards/{h.id}",
            },
        }
        for h, site_name, plat, plon in rows
    ]
    return {
        "type": "FeatureCollection",
        "features": features,
        "total": total,
        "clustered": False,
        "zoom": zoom,
    }


def _first_finding_photos(session: Session, hazard_ids: list[int]) -> dict[int, int]:
    if not hazard_ids:
        return {}
    found: dict[int, int] = {}
    for hazard_id, photo_id in session.exec(
        select(HazardPhoto.hazard_id, HazardPhoto.photo_id)
        .where(HazardPhoto.hazard_id.in_(hazard_ids), HazardPhoto.kind == "finding")
        .order_by(HazardPhoto.hazard_id, HazardPhoto.position.desc())
    ).all():
        found[hazard_id] = photo_id  # the lowest position wins
    return found
