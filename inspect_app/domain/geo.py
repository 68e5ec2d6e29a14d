"""Districts and their boundaries (GeoJSON, WGS-84): import, validation, point-in-district."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from shapely import prepared
from shapely.geometry import Point, shape
from shapely.validation import explain_validity
from sqlmodel import Session, select

from inspect_app.domain.errors import Invalid
from inspect_app.i18n import _
from inspect_app.models import District


def parse_districts_geojson(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Validate a FeatureCollection of district polygons; all problems are reported at once."""
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise Invalid(_("The file is not a GeoJSON FeatureCollection."))
    problems: list[str] = []
    parsed: list[dict[str, Any]] = []
    for n, feature in enumerate(data.get("features") or [], start=1):
        props = feature.get("properties") or {}
        name = str(props.get("name") or "").strip()
        code = str(props.get("adcode") or props.get("code") or "").strip()
        label = name or f"#{n}"
        if not name:
            problems.append(_("Feature {n}: no name property.").format(n=n))
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
        parsed.append({"name": name, "code": code or name, "geometry": geom})
    if not parsed and not problems:
        problems.append(_("The file holds no districts."))
    for i, a in enumerate(parsed):
        for b in parsed[i + 1:]:
            if a["geometry"].intersects(b["geometry"]):
                overlap = a["geometry"].intersection(b["geometry"]).area
                if overlap > 1e-9:
                    problems.append(
                        _("{a} and {b} overlap.").format(a=a["name"], b=b["name"])
                    )
    if problems:
        raise Invalid(_("The district file has problems; nothing was imported."), errors=problems)
    return parsed


def import_districts(session: Session, data: dict[str, Any]) -> tuple[int, int]:
    """Create or update districts by name. Returns (added, updated)."""
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
    session.commit()
    _prepared_boundaries.cache_clear()
    return added, updated


def import_districts_file(session: Session, path: Path) -> tuple[int, int]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise Invalid(_("Cannot read the GeoJSON file: {why}").format(why=exc)) from exc
    return import_districts(session, data)


@lru_cache(maxsize=8)
def _prepared_boundaries(key: tuple[tuple[int, str], ...], boundaries: str):
    return [
        (district_id, prepared.prep(shape(geometry)))
        for district_id, geometry in zip((k[0] for k in key), json.loads(boundaries))
    ]


def district_at(session: Session, lat: float, lon: float) -> int | None:
    """The id of the district whose boundary holds the point, if any."""
    rows = session.exec(select(District.id, District.name, District.boundary)).all()
    rows = [r for r in rows if r[2]]
    key = tuple((r[0], r[1]) for r in rows)
    boundaries = _prepared_boundaries(key, json.dumps([r[2] for r in rows]))
    point = Point(lon, lat)
    for district_id, geom in boundaries:
        if geom.contains(point):
            return district_id
    return None


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
