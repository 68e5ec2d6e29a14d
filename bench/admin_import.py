"""Excel imports of the admin area: a sites sheet (add, then update) and a checklist round trip.

Prints seconds per import and the ratio of the per-row boundary check done the naive way
(geo.district_at for each row: the boundaries are read and decoded each time) to the one
district_locator the import uses. Run: python bench/admin_import.py [ROWS]
"""

from __future__ import annotations

import io
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import openpyxl
from sqlmodel import Session, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inspect_app.config import Settings
from inspect_app.db import make_engine, upgrade
from inspect_app.domain import checklists, geo, sites
from inspect_app.models import District


def sites_sheet(n: int, names: list[str]) -> bytes:
    rnd = random.Random(1)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["name", "address", "district", "risk_class", "cadence", "lat", "lon"])
    for i in range(n):
        ws.append(
            [
                f"单位{i}",
                "地址",
                rnd.choice(names),
                "ABCD"[i % 4],
                30,
                26.9 + rnd.uniform(-0.3, 0.3),
                112.6 + rnd.uniform(-0.3, 0.3),
            ]
        )
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main(rows: int) -> None:
    tmp = Path(tempfile.mkdtemp())
    url = f"sqlite:///{tmp / 'bench.db'}"
    upgrade(url)
    engine = make_engine(
        Settings(database_url=url, upload_dir=tmp / "up", secret_key="b" * 24, env="test")
    )
    with Session(engine, expire_on_commit=False) as s:
        geo.import_districts(
            s, json.loads((ROOT / "inspect_app/data/hengyang_districts.geojson").read_text())
        )
        names = [d.name for d in s.exec(select(District)).all()]
        data = sites_sheet(rows, names)
        added, report = timed(lambda: sites.import_sites_xlsx(s, None, data))
        updated, _ = timed(lambda: sites.import_sites_xlsx(s, None, data))
        print(
            f"sites: {rows} rows, {len(data) // 1024} KB: add {added:.2f} s, update {updated:.2f} s "
            f"({len(report['warnings'])} outside their district)"
        )

        rnd = random.Random(2)
        points = [
            (26.9 + rnd.uniform(-0.3, 0.3), 112.6 + rnd.uniform(-0.3, 0.3)) for _ in range(200)
        ]
        naive, _ = timed(lambda: [geo.district_at(s, lat, lon) for lat, lon in points])
        locate = geo.district_locator(s)
        once, _ = timed(lambda: [locate(lat, lon) for lat, lon in points])
        print(
            f"boundary check, 200 points: district_at each {naive:.3f} s, one locator {once:.3f} s, "
            f"ratio {naive / max(once, 1e-9):.0f}x"
        )

        version = checklists.import_yaml_file(s, ROOT / "inspect_app/data/routine-checklist.yaml")
        spec = checklists.version_spec(s, version)
        export, blob = timed(lambda: checklists.spec_to_xlsx(spec))
        parse, back = timed(lambda: checklists.parse_xlsx(blob))
        assert back == spec
        print(
            f"checklist: export {export * 1000:.0f} ms, import {parse * 1000:.0f} ms, round trip equal"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
