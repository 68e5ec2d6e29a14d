"""The upload-abuse corpus of issue 8, generated (binaries are never committed).

    python tests/make_bad_files.py DIR [--limit BYTES]

writes the files into DIR with a manifest.json: one entry per case with the name to upload it
under, the content type a client claims, and what the server must answer (a status, or "ok"
for genuine images that must be accepted and sanitised); and the bad admin imports (damaged
.xlsx, YAML with aliases, malformed GeoJSON, unsafe district codes) into DIR/imports with theirs. The tests call make_corpus() into a
temporary folder. The genuine-image builders here are shared with tests/test_photos.py and
bench/photo_ingest.py.
"""

from __future__ import annotations

import io
import json
import struct
import sys
import zipfile
import zlib
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import pillow_heif
from PIL import Image, ImageCms, TiffImagePlugin

pillow_heif.register_heif_opener()

EXIF_IFD, GPS_IFD = 0x8769, 0x8825
PAYLOAD = b"<?php system($_GET['c']); ?><script>alert(1)</script>"
PHONE_GPS = ((26, 53, 48), "N", (112, 34, 19), "E")  # 26.8966667 N, 112.5719444 E


@dataclass
class Case:
    name: str  # file name in the corpus folder
    upload_name: str  # file name the client sends
    content_type: str
    expect: int | str  # HTTP status, or "ok" (a genuine image: accepted, sanitised)
    why: str
    gps: bool | None = None  # for "ok": whether GPS must survive as data
    bomb: bool = False  # measured for memory in the abuse test


# --- genuine images ---------------------------------------------------------------------------


def scene(size: tuple[int, int], noise: bool = False) -> Image.Image:
    """A test picture: red top-left quarter, blue elsewhere (so rotation is visible),
    or camera-like noise (so JPEG sizes and decode costs resemble a phone's)."""
    if noise:  # smooth colour blotches plus sensor grain: about 4 MB for 12 MP at quality 90
        blotches = [
            Image.effect_noise((size[0] // 40 + 1, size[1] // 40 + 1), 60) for _ in range(3)
        ]
        base = Image.merge("RGB", [b.resize(size, Image.Resampling.BICUBIC) for b in blotches])
        return Image.blend(base, Image.effect_noise(size, 24).convert("RGB"), 0.4)
    im = Image.new("RGB", size, (20, 40, 220))
    im.paste((230, 20, 20), (0, 0, size[0] // 4, size[1] // 4))
    return im


def phone_exif(
    orientation: int = 6, gps: tuple | None = PHONE_GPS, taken: str | None = "2026:11:20 10:11:12"
) -> Image.Exif:
    """EXIF as a phone writes it: orientation, local capture time, GPS in degrees, min, sec."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "PhoneMaker"
    if taken is not None:
        exif.get_ifd(EXIF_IFD)[0x9003] = taken
    if gps is not None:
        lat, lat_ref, lon, lon_ref = gps
        exif.get_ifd(GPS_IFD).update(
            {1: lat_ref, 2: _rationals(lat), 3: lon_ref, 4: _rationals(lon)}
        )
    return exif


def _rationals(values) -> tuple:
    return tuple(
        v
        if isinstance(v, TiffImagePlugin.IFDRational)
        else TiffImagePlugin.IFDRational(Fraction(v))
        for v in values
    )


def encode(im: Image.Image, fmt: str, exif: Image.Exif | None = None, **options) -> bytes:
    buf = io.BytesIO()
    if exif is not None:
        options["exif"] = exif
    im.save(buf, fmt, **options)
    return buf.getvalue()


def phone_jpeg(
    size: tuple[int, int] = (2000, 1500), orientation: int = 6, noise: bool = False, **exif
) -> bytes:
    return encode(scene(size, noise), "JPEG", phone_exif(orientation, **exif), quality=90)


def genuine(fmt: str, size: tuple[int, int] = (640, 480)) -> bytes:
    """A photo in the given Pillow format (JPEG, PNG, WEBP, HEIF) with upright EXIF and GPS."""
    options = {"WEBP": {"quality": 80}, "JPEG": {"quality": 85}}.get(fmt, {})
    return encode(scene(size), fmt, phone_exif(orientation=1), **options)


# --- damaged and hostile files ------------------------------------------------------------------


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def jpeg_with_size(width: int, height: int) -> bytes:
    """A small real JPEG whose frame header claims another size (a bomb by its header)."""
    data = bytearray(genuine("JPEG", (64, 48)))
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def png_bomb(side: int = 30_000) -> bytes:
    """A real 1-bit PNG of side x side pixels (900 MP) that compresses to ~100 kB."""
    row = b"\x00" * (1 + (side + 7) // 8)
    comp = zlib.compressobj(9)
    idat = b"".join(comp.compress(row * 500) for _ in range(side // 500)) + comp.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", idat)
        + _chunk(b"IEND", b"")
    )


def png_text_bomb() -> bytes:
    """A small genuine PNG carrying a zTXt chunk that inflates to 200 MB."""
    comp = zlib.compressobj(9)
    text = b"".join(comp.compress(b"A" * 2**20) for _ in range(200)) + comp.flush()
    data = genuine("PNG", (64, 48))
    ihdr_end = 8 + 25  # signature + IHDR chunk
    return data[:ihdr_end] + _chunk(b"zTXt", b"Comment\x00\x00" + text) + data[ihdr_end:]


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def webp_with_size(width: int, height: int) -> bytes:
    """A lossless WebP whose VP8L header claims width x height (at most 16384 each)."""
    data = bytearray(encode(scene((64, 48)), "WEBP", lossless=True))
    bits = struct.unpack_from("<I", data, 21)[0]
    bits = (bits & ~0x0FFFFFFF) | (width - 1) | ((height - 1) << 14)
    struct.pack_into("<I", data, 21, bits)
    return bytes(data)


def heic_with_size(width: int, height: int) -> bytes:
    """A HEIC whose image extent (ispe) and clean aperture (clap) claim width x height."""
    data = bytearray(genuine("HEIF", (64, 48)))
    ispe, clap = data.index(b"ispe"), data.index(b"clap")
    struct.pack_into(">II", data, ispe + 8, width, height)
    struct.pack_into(">IIII", data, clap + 4, width, 1, height, 1)
    return bytes(data)


def png_damaged_data() -> bytes:
    """A PNG whose compressed pixel data is corrupt in the middle and which has no EXIF before its
    pixels: Pillow's EXIF read decodes the image (and a reader that swallows that error would
    then keep the partial pixels)."""
    data = bytearray(encode(scene((640, 480), noise=True), "PNG"))
    start = data.index(b"IDAT") + 4 + 3000
    for k in range(200):
        data[start + k] ^= 0x55
    return bytes(data)


def heic_grid(size: tuple[int, int] = (1200, 900), tile: int = 256) -> bytes:
    """A HEIC stored as a grid of tiles, as phones write large photos."""
    from pillow_heif import options

    saved, options.GRID_TILE_SIZE = options.GRID_TILE_SIZE, tile
    try:
        return encode(scene(size, noise=True), "HEIF", phone_exif(orientation=1), quality=50)
    finally:
        options.GRID_TILE_SIZE = saved


def heic_cut_short(data: bytes | None = None, keep: float = 0.6) -> bytes:
    """A grid HEIC cut short, its mdat box shortened to match: the container looks whole, but
    the item locations of the later tiles point past the end of the file."""
    data = data if data is not None else heic_grid()
    cut = bytearray(data[: int(len(data) * keep)])
    mdat = cut.index(b"mdat") - 4
    struct.pack_into(">I", cut, mdat, len(cut) - mdat)
    return bytes(cut)


def absurd_exif() -> bytes:
    return phone_jpeg(
        (320, 240), gps=((200, 75, 99), "Q", (500, 0, 0), "E"), taken="9999:99:99 99:99:99"
    )


def zero_denominator_exif() -> bytes:
    bad = TiffImagePlugin.IFDRational(1, 0)
    return phone_jpeg(
        (320, 240), gps=((bad, bad, bad), "N", (bad, bad, bad), "E"), taken="1800:01:01 00:00:00"
    )


def icc_bytes(name: str) -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile(name)).tobytes()


def display_p3_icc() -> bytes:
    """A minimal ICC v2 matrix/TRC profile with Display P3 primaries (as iPhones embed):
    Pillow can only make sRGB, LAB and XYZ profiles itself."""

    def xyz(x, y, z):
        return b"XYZ \0\0\0\0" + struct.pack(">3i", *(round(v * 65536) for v in (x, y, z)))

    text = b"Display P3 (test)\0"
    desc = b"desc\0\0\0\0" + struct.pack(">I", len(text)) + text + b"\0" * (4 + 4 + 2 + 1 + 67)
    gamma = b"curv\0\0\0\0" + struct.pack(">IH", 1, 0x0233) + b"\0\0"  # gamma 2.2, padded
    tags = [
        (b"desc", desc),
        (b"wtpt", xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", xyz(0.5151, 0.2412, -0.0011)),
        (b"gXYZ", xyz(0.2920, 0.6922, 0.0419)),
        (b"bXYZ", xyz(0.1571, 0.0666, 0.7841)),
        (b"rTRC", gamma),
        (b"gTRC", gamma),
        (b"bTRC", gamma),
    ]
    offset, table, body = 128 + 4 + 12 * len(tags), b"", b""
    for sig, data in tags:
        data += b"\0" * (-len(data) % 4)
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = struct.pack(
        ">I4sI4s4s4s12s4s", size, b"", 0x02100000, b"mntr", b"RGB ", b"XYZ ", b"", b"acsp"
    )
    header += b"\0" * 28 + struct.pack(">3i", *(round(v * 65536) for v in (0.9642, 1.0, 0.8249)))
    header += b"\0" * (128 - len(header))
    return header + struct.pack(">I", len(tags)) + table + body


def polyglot_jpeg_zip() -> bytes:
    """A valid JPEG with a ZIP archive (a script inside) appended."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("shell.php", PAYLOAD)
    return genuine("JPEG") + buf.getvalue()


# --- camera files, generated (issue 12): odd modes, every orientation, cuts and bit flips -------

# The transpose that stores an upright picture under an EXIF orientation (inverse of the display).
STORE = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}
UPRIGHT = (240, 160)  # scene(): red top-left quarter, blue elsewhere
CAMERA_OPTIONS = {"JPEG": {"quality": 90}, "WEBP": {"quality": 85}, "PNG": {}, "HEIF": {}}
CAMERA_MODES = {
    "JPEG": ("L", "CMYK"),
    "PNG": ("RGBA", "LA", "P-transparent", "I;16", "L", "1"),
    "WEBP": ("RGBA",),
    "HEIF": ("RGBA", "L"),
}


def _in_mode(mode: str) -> Image.Image:
    picture = scene(UPRIGHT)
    if mode == "P-transparent":
        palette = picture.convert("P")
        palette.info["transparency"] = palette.getpixel((UPRIGHT[0] - 1, UPRIGHT[1] - 1))
        return palette
    if mode == "I;16":
        return picture.convert("L").point(lambda v: v * 256, "I").convert("I;16")
    if mode in ("RGBA", "LA"):
        faded = picture.convert(mode)
        faded.putalpha(200)
        return faded
    return picture.convert(mode)


def camera_corpus(fmt: str) -> list[tuple[str, bytes, str]]:
    """(name, bytes, expect) for one format. expect: "upright" (accepted, red top-left, the
    upright size), "whole" (accepted at its full size) or "any" (accepted whole, or a 4xx)."""
    options = CAMERA_OPTIONS[fmt]
    cases = []
    # HEIF turns pictures with the container's irot/imir boxes, applied by libheif, not with
    # EXIF (which pillow-heif cannot write as boxes): only the upright case applies to it.
    for orientation, store in STORE.items() if fmt != "HEIF" else [(1, None)]:
        stored = scene(UPRIGHT) if store is None else scene(UPRIGHT).transpose(store)
        cases.append(
            (
                f"orientation-{orientation}",
                encode(stored, fmt, phone_exif(orientation), **options),
                "upright",
            )
        )
    for mode in CAMERA_MODES[fmt]:
        cases.append((f"mode-{mode}", encode(_in_mode(mode), fmt, **options), "whole"))
    # With EXIF before the pixels, and without (then Pillow's EXIF read of a PNG decodes it).
    for label, exif in (("exif", phone_exif(orientation=1)), ("plain", None)):
        base = encode(scene(UPRIGHT, noise=True), fmt, exif, **options)
        for keep in (0.05, 0.25, 0.5, 0.75, 0.9, 0.98, 0.999):
            cases.append((f"{label}-cut-{keep}", base[: int(len(base) * keep)], "any"))
        for at in (0.2, 0.4, 0.6, 0.8, 0.95):
            flipped = bytearray(base)
            flipped[int(len(base) * at)] ^= 0x10
            cases.append((f"{label}-flip-{at}", bytes(flipped), "any"))
    return cases


# --- admin imports (issue 12): spreadsheets, YAML checklists, GeoJSON districts -----------------

ENTITY_DTD = (
    b'<?xml version="1.0"?><!DOCTYPE worksheet [<!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">'
    b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
)


def xlsx_with_part(good: bytes, part: str, change) -> bytes:
    """A copy of the .xlsx `good` whose zip member `part` is change(its bytes)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info, change(data) if info.filename == part else data)
    return out.getvalue()


def bad_xlsx(good: bytes) -> dict[str, bytes]:
    """Damaged variants of a workbook: cut XML, and entity expansion in the sheet or workbook."""
    sheet = "xl/worksheets/sheet1.xml"

    def entities(data: bytes) -> bytes:
        start = data.index(b"<", data.index(b"?>") + 2 if data.startswith(b"<?xml") else 0)
        return ENTITY_DTD + data[start:].replace(b"</sheetData>", b"</sheetData>&c;", 1)

    return {
        "sheet-cut": xlsx_with_part(good, sheet, lambda d: d[: int(len(d) * 0.7)]),
        "sheet-not-xml": xlsx_with_part(good, sheet, lambda d: b"<worksheet><sheetData><row>"),
        "sheet-entities": xlsx_with_part(good, sheet, entities),
        "workbook-entities": xlsx_with_part(
            good,
            "xl/workbook.xml",
            lambda d: ENTITY_DTD.replace(b"worksheet", b"workbook") + d[d.index(b"<workbook") :],
        ),
    }


# Under 400 bytes that expand to millions of characters through nested aliases.
YAML_ALIAS_BOMB = "".join(
    [
        "a: &a [x,x,x,x,x,x,x,x,x]\n",
        *(
            f"{n}: &{n} [{','.join([f'*{p}'] * 9)}]\n"
            for p, n in zip("abcde", "bcdef", strict=True)
        ),
        "name: {zh: 炸弹}\nkey: bomb\nsections:\n  - key: s\n    title: 节\n",
        "    items:\n      - {key: i, zh: *f}\n",
    ]
)


def bad_yaml() -> dict[str, str]:
    item = "name: {{zh: 检查表}}\nkey: k\nsections:\n  - key: s\n    title: 节\n    items:\n{items}"
    return {
        "aliases": YAML_ALIAS_BOMB,
        "long-prompt": item.format(items=f"      - {{key: i, zh: {'长' * 600}}}\n"),
        "sections-not-mappings": "name: {zh: 表}\nsections: [1, 2]\n",
        "items-not-mappings": item.format(items="      - just text\n"),
        "too-deep": "name: {zh: 表}\nsections: " + "[" * 5000 + "]" * 5000 + "\n",
        "many-choices": item.format(
            items="      - {key: i, zh: 选, type: choice, choices: ["
            + ",".join(f"c{n}" for n in range(500))
            + "]}\n"
        ),
    }


def bad_geojson(good: dict) -> dict[str, bytes]:
    """A good FeatureCollection of districts broken one way per case."""
    first = good["features"][0]

    def collection(*features, **extra) -> bytes:
        return json.dumps(
            {"type": "FeatureCollection", "features": list(features), **extra}
        ).encode()

    def with_code(code) -> bytes:
        return collection({**first, "properties": {**first["properties"], "adcode": code}})

    return {
        "deep-nesting": b'{"type": "FeatureCollection", "features": '
        + b"[" * 100_000
        + b"]" * 100_000
        + b"}",
        "features-not-list": json.dumps(
            {"type": "FeatureCollection", "features": {"a": 1}}
        ).encode(),
        "features-a-string": json.dumps({"type": "FeatureCollection", "features": "abc"}).encode(),
        "feature-not-object": collection(42),
        "properties-not-object": collection({**first, "properties": ["name", "x"]}),
        "properties-a-string": collection({**first, "properties": "珠晖区"}),
        "geometry-not-object": collection({**first, "geometry": [1, 2]}),
        "code-not-ascii": with_code("珠晖"),
        "code-with-quote": with_code('43"0405'),
        "code-with-newline": with_code("4304\r\nX-Injected: 1"),
        "code-missing": collection({**first, "properties": {"name": first["properties"]["name"]}}),
        "code-too-long": with_code("4" * 21),
    }


def make_corpus(directory: Path, limit: int = 20 * 2**20) -> list[Case]:
    """Write every case into directory (with manifest.json) and return them."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    jpeg = genuine("JPEG")
    cases: list[tuple[Case, bytes]] = [
        # not images, whatever the name and type say
        (
            Case("text.jpg", "photo.jpg", "image/jpeg", 415, "plain text named .jpg"),
            b"not a photo\n" * 40,
        ),
        (
            Case("html.png", "photo.png", "image/png", 415, "HTML with script named .png"),
            b"<html><body>" + PAYLOAD + b"</body></html>",
        ),
        (
            Case("svg.png", "photo.png", "image/png", 415, "SVG (script-capable) named .png"),
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        ),
        (
            Case("pdf.heic", "IMG_0001.HEIC", "image/heic", 415, "PDF named .heic"),
            b"%PDF-1.4\n%\xe2\xe3\n1 0 obj\n",
        ),
        (
            Case("zip.webp", "photo.webp", "image/webp", 415, "ZIP named .webp"),
            b"PK\x03\x04" + b"\x00" * 100,
        ),
        (
            Case(
                "gif.jpg", "photo.jpg", "image/jpeg", 415, "a real GIF: an image, not one we take"
            ),
            encode(scene((64, 48)), "GIF"),
        ),
        (
            Case(
                "jpeg-as-html.jpg",
                "photo.jpg",
                "text/html",
                415,
                "a real JPEG declared as text/html",
            ),
            jpeg,
        ),
        (
            Case(
                "jpeg-as-php.jpg",
                "photo.jpg",
                "application/x-php",
                415,
                "a real JPEG declared as a script",
            ),
            jpeg,
        ),
        # magic bytes and nothing behind them
        (
            Case("jpeg-magic.jpg", "photo.jpg", "image/jpeg", 422, "JPEG magic then HTML"),
            b"\xff\xd8\xff" + PAYLOAD,
        ),
        (
            Case("png-magic.png", "photo.png", "image/png", 422, "PNG signature only"),
            b"\x89PNG\r\n\x1a\n",
        ),
        (
            Case("webp-magic.webp", "photo.webp", "image/webp", 422, "RIFF/WEBP header only"),
            b"RIFF\x10\x00\x00\x00WEBPVP8 \x00\x00\x00\x00",
        ),
        (
            Case("heic-magic.heic", "photo.heic", "image/heic", 422, "ftyp heic box only"),
            b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic",
        ),
        # truncated
        (
            Case("truncated.jpg", "photo.jpg", "image/jpeg", 422, "JPEG cut in half"),
            truncated(phone_jpeg((800, 600))),
        ),
        (
            Case("truncated.png", "photo.png", "image/png", 422, "PNG cut in half"),
            truncated(genuine("PNG")),
        ),
        (
            Case("truncated.webp", "photo.webp", "image/webp", 422, "WebP cut in half"),
            truncated(genuine("WEBP")),
        ),
        (
            Case("truncated.heic", "photo.heic", "image/heic", 422, "HEIC cut in half"),
            truncated(genuine("HEIF")),
        ),
        # damaged inside, whole outside (issue 12)
        (
            Case("damaged-data.png", "photo.png", "image/png", 422, "PNG with corrupt IDAT data"),
            png_damaged_data(),
        ),
        (
            Case(
                "cut-grid.heic",
                "IMG_0002.HEIC",
                "image/heic",
                422,
                "grid HEIC cut short, mdat size patched to fit",
            ),
            heic_cut_short(),
        ),
        # decompression bombs
        (
            Case(
                "bomb-header.jpg",
                "photo.jpg",
                "image/jpeg",
                413,
                "JPEG claiming 10000x10000",
                bomb=True,
            ),
            jpeg_with_size(10_000, 10_000),
        ),
        (
            Case(
                "bomb-huge.jpg",
                "photo.jpg",
                "image/jpeg",
                413,
                "JPEG claiming 65000x65000",
                bomb=True,
            ),
            jpeg_with_size(65_000, 65_000),
        ),
        (
            Case(
                "bomb.png",
                "photo.png",
                "image/png",
                413,
                "real 30000x30000 PNG in ~100 kB",
                bomb=True,
            ),
            png_bomb(),
        ),
        (
            Case(
                "bomb-text.png",
                "photo.png",
                "image/png",
                422,
                "zTXt chunk inflating to 200 MB",
                bomb=True,
            ),
            png_text_bomb(),
        ),
        (
            Case(
                "bomb.webp", "photo.webp", "image/webp", 413, "WebP claiming 16384x16384", bomb=True
            ),
            webp_with_size(16_384, 16_384),
        ),
        (
            Case(
                "bomb.heic", "photo.heic", "image/heic", 413, "HEIC claiming 30000x30000", bomb=True
            ),
            heic_with_size(30_000, 30_000),
        ),
        # polyglots: genuine images carrying a payload are accepted, the payload never served
        (
            Case(
                "polyglot-zip.jpg",
                "photo.jpg",
                "image/jpeg",
                "ok",
                "JPEG + ZIP with a PHP shell",
                gps=True,
            ),
            polyglot_jpeg_zip(),
        ),
        (
            Case(
                "polyglot-comment.jpg",
                "photo.jpg",
                "image/jpeg",
                "ok",
                "JPEG with script in COM",
                gps=False,
            ),
            encode(scene((320, 240)), "JPEG", comment=PAYLOAD),
        ),
        (
            Case(
                "polyglot-trailer.png",
                "photo.png",
                "image/png",
                "ok",
                "PNG + PHP after IEND",
                gps=True,
            ),
            genuine("PNG") + PAYLOAD,
        ),
        # absurd EXIF: the photo is fine, the nonsense is dropped
        (
            Case(
                "exif-absurd.jpg",
                "photo.jpg",
                "image/jpeg",
                "ok",
                "GPS 200°/500°, date 9999-99-99",
                gps=False,
            ),
            absurd_exif(),
        ),
        (
            Case(
                "exif-zero-denominator.jpg",
                "photo.jpg",
                "image/jpeg",
                "ok",
                "GPS rationals x/0, year 1800",
                gps=False,
            ),
            zero_denominator_exif(),
        ),
        (
            Case(
                "exif-orientation-99.jpg",
                "photo.jpg",
                "image/jpeg",
                "ok",
                "orientation 99, date 'not a date'",
                gps=True,
            ),
            encode(scene((320, 240)), "JPEG", phone_exif(orientation=99, taken="not a date")),
        ),
        # colour profiles that cannot apply are dropped with the rest of the metadata
        (
            Case(
                "icc-xyz.jpg",
                "photo.jpg",
                "image/jpeg",
                "ok",
                "XYZ profile on RGB: unusable",
                gps=False,
            ),
            encode(scene((320, 240)), "JPEG", icc_profile=icc_bytes("XYZ")),
        ),
        (
            Case(
                "icc-garbage.jpg", "photo.jpg", "image/jpeg", "ok", "garbage ICC profile", gps=False
            ),
            encode(scene((320, 240)), "JPEG", icc_profile=PAYLOAD * 20),
        ),
        # empty and oversized
        (Case("empty.jpg", "photo.jpg", "image/jpeg", 422, "zero bytes"), b""),
        (
            Case(
                "oversize.jpg",
                "photo.jpg",
                "image/jpeg",
                413,
                "a real JPEG padded past the byte limit",
            ),
            jpeg + b"\x00" * (limit + 1 - len(jpeg)),
        ),
        # hostile names (the bytes are a genuine photo)
        (
            Case("traversal-1.jpg", "../../etc/passwd.jpg", "image/jpeg", 422, "relative path up"),
            jpeg,
        ),
        (
            Case(
                "traversal-2.jpg", "..\\..\\windows\\win.jpg", "image/jpeg", 422, "backslash path"
            ),
            jpeg,
        ),
        (
            Case("traversal-3.jpg", "/var/www/html/shell.jpg", "image/jpeg", 422, "absolute path"),
            jpeg,
        ),
        (Case("traversal-4.jpg", "..", "image/jpeg", 422, "parent directory as the name"), jpeg),
        (
            Case(
                "name-encoded.jpg",
                "..%2F..%2Fphoto.jpg",
                "image/jpeg",
                "ok",
                "percent-escapes are only characters",
                gps=True,
            ),
            jpeg,
        ),
    ]
    manifest = []
    for case, data in cases:
        (directory / case.name).write_bytes(data)
        manifest.append(asdict(case))
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False))
    return [case for case, _data in cases]


# Bad values for ids, integers and dates in query parameters and form fields (issue 12's input
# parsing class; tests/test_input_parsing.py sends each to every route): digits that
# str.isdigit() accepts and int() refuses or misreads, numbers no column holds, dates whose next
# day or UTC instant does not exist.
BAD_NUMBERS = ["¹", "²", "٣", "１", "1e3", "7x", "99999999999999999999", "-5", "0x10"]
BAD_DATES = ["9999-12-31", "0001-01-01", "2026-13-01", "２０２６-01-01", "2026-1-1"]


def make_import_corpus(directory: Path, good_xlsx: bytes, good_geojson: dict) -> list[dict]:
    """Write the bad admin imports (spreadsheets, YAML checklists, GeoJSON districts) into
    directory with a manifest.json: each is refused with a 4xx and imports nothing."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        **{f"{k}.xlsx": ("/admin/sites/import", v) for k, v in bad_xlsx(good_xlsx).items()},
        **{f"{k}.yaml": ("/admin/templates/import", v.encode()) for k, v in bad_yaml().items()},
        **{
            f"{k}.geojson": ("/admin/districts/import", v)
            for k, v in bad_geojson(good_geojson).items()
        },
    }
    manifest = []
    for name, (url, data) in files.items():
        (directory / name).write_bytes(data)
        manifest.append({"name": name, "post_to": url, "expect": 422})
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def _sites_xlsx() -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["name", "address", "district", "risk_class", "cadence", "lat", "lon"])
    for n in range(300):
        ws.append([f"site {n}", "road", "district", "B", 30, 26.89, 112.57])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    limit = int(sys.argv[sys.argv.index("--limit") + 1]) if "--limit" in sys.argv else 20 * 2**20
    made = make_corpus(Path(sys.argv[1]), limit)
    print(f"{len(made)} files written to {sys.argv[1]}")
    districts = Path(__file__).resolve().parents[1] / "inspect_app/data/hengyang_districts.geojson"
    imports = make_import_corpus(
        Path(sys.argv[1]) / "imports", _sites_xlsx(), json.loads(districts.read_text("utf-8"))
    )
    print(f"{len(imports)} bad admin imports written to {Path(sys.argv[1]) / 'imports'}")
