"""Photo pipeline: untrusted bytes in, an upright, metadata-free web copy and thumbnail out.

Objects are content-addressed by the sha256 of the bytes as received (keys in the configured
storage, domain/storage.py: a folder or an S3 bucket):

    photos/ab/<sha>.web.jpg     served to allowed users
    photos/ab/<sha>.thumb.jpg   served to allowed users
    originals/ab/<sha>.<ext>    evidence (settings.keep_originals), never served

Nothing derived from the client (file name, content type) is used for a path: the bytes decide
the format. Every file is written to a temporary name and renamed, and an upload that fails
leaves nothing behind. Capture time and GPS are read from EXIF into the Photo row, then EXIF
is dropped from everything that is served.
"""

from __future__ import annotations

import hashlib
import io
import math
import mmap
import os
import re
import struct
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Literal
from zoneinfo import ZoneInfo

import pillow_heif
from PIL import Image, ImageCms, ImageFile
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from inspect_app.config import Settings
from inspect_app.domain.access import district_scope, require_role
from inspect_app.domain.decode_budget import reserve
from inspect_app.domain.errors import DomainError, Invalid, TooLarge, UnsupportedMedia
from inspect_app.domain.storage import Storage, for_settings
from inspect_app.i18n import _
from inspect_app.models import (
    Answer,
    AnswerPhoto,
    Hazard,
    HazardPhoto,
    Inspection,
    InspectionStatus,
    Photo,
    Role,
    Site,
    User,
    utcnow,
)

pillow_heif.register_heif_opener()
ImageFile.LOAD_TRUNCATED_IMAGES = False  # partial pixels of a damaged file are never a photo

UPLOADERS = (Role.inspector, Role.officer, Role.office, Role.admin)
Variant = Literal["web", "thumb", "original"]
CHUNK = 256 * 1024
JPEG_QUALITY = 82
# Formats we accept, as (Pillow format name, file extension of the kept original).
FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "HEIF": "heic"}
HEIF_BRANDS = set(b"heic heix hevc hevx heim heis hevm hevs mif1 msf1".split())
# Declared types a phone or browser may send for a photo; anything else is refused up front.
DECLARED_OK = re.compile(r"^(image/[a-z0-9.+-]+|application/octet-stream)$")
EARLIEST_CAPTURE = datetime(1990, 1, 1, tzinfo=UTC)
_SRGB = ImageCms.createProfile("sRGB")


class Incoming:
    """An upload arriving in chunks: counted against the byte limit and hashed as it comes,
    spooled to a private temporary file. The API route feeds it from the request stream, so
    an oversized body is refused at the first byte over the limit, never spooled whole.

    Use as a context manager: the temporary file is removed on exit unless ingest moved it
    into the store as the kept original.
    """

    def __init__(self, settings: Settings):
        self.limit = settings.max_upload_bytes
        tmp_dir = for_settings(settings).spool_dir
        if tmp_dir is not None:
            tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=tmp_dir, prefix="inspect-upload-", suffix=".part")
        self.path = Path(name)
        self._file: IO[bytes] | None = os.fdopen(fd, "wb")
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            self.discard()
            raise too_large(self.limit)
        self._hash.update(chunk)
        assert self._file is not None, "write after close"
        self._file.write(chunk)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def discard(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> Incoming:
        return self

    def __exit__(self, *exc) -> None:
        self.discard()


Stream = Incoming | bytes | IO[bytes] | Iterable[bytes]


@dataclass
class Facts:
    """What the decoder learnt about an image: upright size and EXIF data worth keeping."""

    format: str
    width: int
    height: int
    taken_at: datetime | None
    gps: tuple[float, float] | None
    orientation: int = 1


def too_large(limit: int) -> TooLarge:
    return TooLarge(
        _("The file is larger than the limit of {limit} MB.").format(limit=round(limit / 2**20, 1))
    )


def check_declared(filename: str | None, content_type: str | None) -> None:
    """Refuse what the client itself says is not a photo, or a name that carries a path.

    The name is never used for storage; a path in it means a broken or hostile client.
    """
    name = filename or ""
    if "/" in name or "\\" in name or "\x00" in name or name in (".", ".."):
        raise Invalid(_("The file name must not contain a folder or path."))
    declared = (content_type or "").split(";")[0].strip().lower()
    if declared and not DECLARED_OK.match(declared):
        raise UnsupportedMedia(_("Only photos can be uploaded (JPEG, PNG, WebP or HEIC)."))


def ingest(
    session: Session,
    settings: Settings,
    user: User,
    stream: Stream,
    filename: str | None,
    content_type: str | None,
    now: datetime | None = None,
) -> Photo:
    """Validate, decode and store one uploaded photo; commit its Photo row.

    `stream` is an Incoming already filled by the caller (the streaming API route), bytes,
    a binary file object (e.g. UploadFile.file) or an iterable of byte chunks. Async callers
    feed an Incoming chunk by chunk and pass it here. Raises UnsupportedMedia (415), TooLarge
    (413) or Invalid (422); on any failure no file is left in the upload folder.
    """
    require_role(user, *UPLOADERS)
    incoming = stream if isinstance(stream, Incoming) else None
    try:
        check_declared(filename, content_type)
        if incoming is None:
            incoming = Incoming(settings)
            _copy_into(stream, incoming)
        incoming.close()
        if incoming.size == 0:
            raise Invalid(_("The file is empty."))
        return _store(session, settings, user, incoming, now or utcnow())
    finally:
        if incoming is not None:
            incoming.discard()


def ingest_bytes(
    session: Session,
    settings: Settings,
    user: User,
    data: bytes,
    filename: str = "photo.jpg",
    now: datetime | None = None,
) -> Photo:
    """ingest() for bytes made in-process (the demo generator, scripts)."""
    return ingest(session, settings, user, data, filename, None, now=now)


def owned(session: Session, user: User, photo_ids: Iterable[int]) -> list[Photo]:
    """The user's own photos for these ids, in the given order (duplicates dropped).

    Answers and rectifications may only attach photos their author uploaded.
    """
    ids = list(dict.fromkeys(int(i) for i in photo_ids))
    if not ids:
        return []
    found = {p.id: p for p in session.exec(select(Photo).where(Photo.id.in_(ids))).all()}
    for photo_id in ids:
        photo = found.get(photo_id)
        if photo is None or photo.uploaded_by != user.id:
            raise Invalid(_("Photo {id} is unknown or not yours.").format(id=photo_id))
    return [found[i] for i in ids]


def can_view(session: Session, user: User, photo: Photo) -> bool:
    """Its uploader; admin (who also sees drafts); otherwise whoever may see what it belongs to:
    a SUBMITTED inspection (office all, officers their district's) or a hazard (office all,
    officers their district's, inspectors those they reported).

    A draft's photos, and photos not yet attached to anything, are the uploader's alone: a draft
    belongs to its inspector until it is submitted.
    """
    if photo.uploaded_by == user.id or user.role == Role.admin:
        return True
    scope = district_scope(user)
    queries = []
    if user.role in (Role.office, Role.officer):
        via_answer = (
            select(AnswerPhoto.photo_id)
            .join(Answer, Answer.id == AnswerPhoto.answer_id)
            .join(Inspection, Inspection.id == Answer.inspection_id)
            .where(AnswerPhoto.photo_id == photo.id)
        )
        via_signature = select(Inspection.id).where(Inspection.signature_photo_id == photo.id)
        for query in (via_answer, via_signature):
            query = query.where(Inspection.status == InspectionStatus.submitted)
            if scope is not None:
                query = query.join(Site, Site.id == Inspection.site_id).where(
                    Site.district_id == scope
                )
            queries.append(query)
    via_hazard = (
        select(HazardPhoto.photo_id)
        .join(Hazard, Hazard.id == HazardPhoto.hazard_id)
        .where(HazardPhoto.photo_id == photo.id)
    )
    if user.role == Role.inspector:
        queries.append(via_hazard.where(Hazard.reporter_id == user.id))
    elif user.role in (Role.office, Role.officer):
        queries.append(
            via_hazard if scope is None else via_hazard.where(Hazard.district_id == scope)
        )
    return any(session.exec(q.limit(1)).first() is not None for q in queries)


def key_for(photo: Photo, variant: Variant) -> str:
    """The storage key of a photo's file (the same on every backend)."""
    sha = photo.sha256
    if variant == "original":
        ext = FORMATS.get(photo.original_format, "bin")
        return f"originals/{sha[:2]}/{sha}.{ext}"
    if variant not in ("web", "thumb"):
        raise ValueError(f"unknown photo variant {variant!r}")
    return f"photos/{sha[:2]}/{sha}.{variant}.jpg"


def path_for(settings: Settings, photo: Photo, variant: Variant) -> Path:
    """The file of a photo in the local-folder store (tests and tools that look at files)."""
    return Path(settings.storage_url or settings.upload_dir) / key_for(photo, variant)


def photo_json(photo: Photo) -> dict:
    """The contract shape of a photo (POST /api/v1/photos and everywhere photos are listed)."""
    has_gps = photo.gps_lat is not None and photo.gps_lon is not None
    return {
        "id": photo.id,
        "width": photo.width,
        "height": photo.height,
        "sha256": photo.sha256,
        "taken_at": photo.taken_at.isoformat() if photo.taken_at else None,
        "gps": {"lat": photo.gps_lat, "lon": photo.gps_lon} if has_gps else None,
        "url": f"/photos/{photo.id}",
        "thumb_url": f"/photos/{photo.id}/thumb",
    }


# --- storing ---------------------------------------------------------------------------------


def _copy_into(stream: Stream, incoming: Incoming) -> None:
    if isinstance(stream, (bytes, bytearray, memoryview)):
        incoming.write(bytes(stream))
    elif hasattr(stream, "read"):
        while chunk := stream.read(CHUNK):
            incoming.write(chunk)
    else:
        for chunk in stream:
            incoming.write(chunk)


def _store(
    session: Session, settings: Settings, user: User, incoming: Incoming, now: datetime
) -> Photo:
    """Reuse the uploader's row for the same bytes; reuse files another upload already made."""
    sha = incoming.sha256
    store = for_settings(settings)
    rows = session.exec(select(Photo).where(Photo.sha256 == sha).order_by(Photo.id)).all()
    stored = [p for p in rows if _files_present(store, p)]
    mine = next((p for p in stored if p.uploaded_by == user.id), None)
    if mine is not None:
        return mine
    created: list[str] = []
    try:
        if stored:
            known = stored[0]
            for variant in ("web", "thumb"):  # fresh mtimes: gc's grace covers reused files too
                store.touch(key_for(known, variant))
            facts = Facts(
                known.original_format,
                known.width,
                known.height,
                known.taken_at,
                (known.gps_lat, known.gps_lon) if known.gps_lat is not None else None,
            )
        else:
            facts = _process(settings, store, incoming.path, sha, created)
        photo = Photo(
            sha256=sha,
            uploaded_by=user.id,
            created_at=now,
            width=facts.width,
            height=facts.height,
            original_format=facts.format,
            original_bytes=incoming.size,
            taken_at=facts.taken_at,
            gps_lat=facts.gps[0] if facts.gps else None,
            gps_lon=facts.gps[1] if facts.gps else None,
        )
        original = key_for(photo, "original")
        if settings.keep_originals and not store.exists(original):
            store.put_file(original, incoming.path, move=True)
            created.append(original)
        session.add(photo)
        try:
            session.commit()
        except IntegrityError:  # the same user's same bytes were committed a moment ago (a retry)
            session.rollback()
            twin = session.exec(
                select(Photo).where(Photo.sha256 == sha, Photo.uploaded_by == user.id)
            ).first()
            if twin is None:
                raise
            return twin
        session.refresh(photo)
        return photo
    except BaseException:
        session.rollback()
        # Remove only the files this upload made, and not if a concurrent upload of the same
        # bytes has committed a row that now relies on them (unsure: housekeeping.gc decides).
        if not _safe(
            lambda: session.exec(select(Photo.id).where(Photo.sha256 == sha).limit(1)).first(), True
        ):
            for key in created:
                _safe(lambda key=key: store.delete(key))
        raise


def _files_present(store: Storage, photo: Photo) -> bool:
    return store.exists(key_for(photo, "web")) and store.exists(key_for(photo, "thumb"))


def _process(
    settings: Settings, store: Storage, source: Path, sha: str, created: list[str]
) -> Facts:
    """Decode (completely: a damaged file fails here), turn upright, write web copy and thumbnail."""
    if ImageFile.LOAD_TRUNCATED_IMAGES:  # would keep the partial pixels of a damaged file
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES must stay off")
    fmt = sniff(source)
    if fmt == "HEIF":
        check_heif_items(source)
    try:
        with Image.open(source, formats=[fmt]) as im:
            stored = im.size
            if stored[0] * stored[1] > settings.max_image_pixels:
                raise _too_many_pixels(stored, settings.max_image_pixels)
            # JPEG decodes at 1/2, 1/4 or 1/8 scale; HEIF picks an embedded thumbnail when one is
            # large enough; the other formats ignore the request and decode at full size.
            im.draft("RGB", draft_size(stored, settings.photo_web_size))
            factor = shrink_factor(im.size, settings.photo_web_size)
            cost = decode_cost(im, fmt, factor)
            with reserve(settings.decode_budget_mb * 2**20, cost, settings.decode_wait_seconds):
                im.load()  # before any EXIF read: a PNG's EXIF read decodes and would hide errors
                facts = _facts(im, fmt, settings, stored)
                icc = im.info.get("icc_profile")
                # Reduce first, turn upright after: transposing the smaller image is cheaper.
                web = _fit(_shrink(im, factor), settings.photo_web_size)
                if web is im:
                    web = im.copy()
                im.close()  # the decoded pixels go before their share of the budget does
            if TRANSPOSE[facts.orientation] is not None:  # FLIP_LEFT_RIGHT is 0: test for None
                web = web.transpose(TRANSPOSE[facts.orientation])
            web = _to_srgb(web, icc)
    except DomainError:
        raise
    except Image.DecompressionBombError:
        raise _too_many_pixels(None, settings.max_image_pixels) from None
    except Exception as exc:  # decoders of untrusted bytes fail in many ways: all mean "damaged"
        raise Invalid(_("The image is damaged or incomplete.")) from exc
    web.info.clear()  # Pillow re-writes comment, EXIF, XMP, ICC found in info when saving
    thumb = _fit(web, settings.photo_thumb_size)
    thumb.info.clear()
    for variant, image in (("web", web), ("thumb", thumb)):
        key = key_for(Photo(sha256=sha), variant)
        if not store.exists(key):
            store.write(key, lambda f, image=image: image.save(f, "JPEG", quality=JPEG_QUALITY))
            created.append(key)
    return facts


# Bytes per pixel of Pillow's storage by mode: multi-band 8-bit modes take 4 (RGB too).
_PIXEL_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}
# Copies of the pixels a decoder holds at once: libwebp's canvas, the bytes Pillow gets from it
# and the image (measured with bench/photo_decode_budget.py --format webp); libheif's buffer
# and the image.
_COPIES = {"WEBP": 3, "HEIF": 2}


def decode_cost(im: Image.Image, fmt: str, factor: int) -> int:
    """Bytes of pixel memory a decode holds at its peak: the decoded image (and the buffers of
    decoders that copy), plus the reduced RGB copy made from it."""
    w, h = im.size
    decoded = w * h * _PIXEL_BYTES.get(im.mode, 4) * _COPIES.get(fmt, 1)
    return decoded + -(-w // factor) * -(-h // factor) * 4


def shrink_factor(size: tuple[int, int], long_side: int) -> int:
    """The integer reduction that keeps at least twice the target long side (1: none)."""
    return max(1, max(size) // (2 * long_side))


STRIP_ROWS = 64


def _shrink(im: Image.Image, factor: int) -> Image.Image:
    """RGB reduced by an integer factor, made strip by strip: no full-size converted copy (RGB,
    premultiplied alpha) of a large decode is ever held beside it."""
    if factor == 1:
        return _flatten(im)
    w, h = im.size
    out = Image.new("RGB", (-(-w // factor), -(-h // factor)))
    step = factor * STRIP_ROWS  # a multiple of the factor: reduced strips meet without seams
    for top in range(0, h, step):
        strip = _flatten(im.crop((0, top, w, min(h, top + step))))
        out.paste(strip.reduce(factor), (0, top // factor))
    return out


def check_heif_items(path: Path) -> None:
    """Refuse a HEIF whose boxes or item data reach past the end of the file (a file cut short):
    a tolerant decoder would otherwise fill the missing tiles of a grid image.

    Reads the top-level boxes and the `iloc` box of `meta` (ISO/IEC 14496-12, 8.11.3).
    """
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        try:
            _check_items(data)
        except (ValueError, struct.error, IndexError) as exc:
            raise Invalid(_("The image is damaged or incomplete.")) from exc


def _check_items(data) -> None:
    meta = None
    for kind, start, end in _boxes(data, 0, len(data)):
        if kind == b"meta":
            meta = (start + 4, end)  # a full box: version and flags first
    if meta is None:
        raise ValueError("no meta box")
    children = {kind: (start, end) for kind, start, end in _boxes(data, *meta)}
    idat = children.get(b"idat", (0, 0))
    if b"iloc" not in children:
        raise ValueError("no iloc box")
    for method, offset, length in _iloc_extents(data, *children[b"iloc"]):
        limit = idat[1] - idat[0] if method == 1 else len(data)
        if method in (0, 1) and offset + length > limit:
            raise ValueError("item data past the end")


def _boxes(data: bytes, start: int, end: int):
    """(type, payload start, payload end) of the boxes in data[start:end]; each must fit."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            size, header = struct.unpack_from(">Q", data, pos + 8)[0], 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise ValueError(f"box {kind!r} runs past its container")
        yield kind, pos + header, pos + size
        pos += size


def _iloc_extents(data: bytes, start: int, end: int):
    """(construction method, offset, length) of every extent the item location box lists."""

    def number(pos: int, size: int) -> int:
        if pos + size > end:
            raise ValueError("iloc runs past its box")
        return int.from_bytes(data[pos : pos + size], "big")

    version = data[start]
    pos = start + 4
    offset_size, length_size = data[pos] >> 4, data[pos] & 15
    base_size, index_size = data[pos + 1] >> 4, data[pos + 1] & 15
    pos += 2
    id_size = 4 if version == 2 else 2
    count = number(pos, id_size)
    pos += id_size
    for _item in range(count):
        pos += id_size
        method = 0
        if version in (1, 2):
            method = number(pos, 2) & 15
            pos += 2
        if number(pos, 2) != 0:  # data_reference_index: data in another file
            raise ValueError("external item data")
        base = number(pos + 2, base_size)
        pos += 2 + base_size
        extents = number(pos, 2)
        pos += 2
        for _extent in range(extents):
            if version in (1, 2):
                pos += index_size
            offset = number(pos, offset_size)
            length = number(pos + offset_size, length_size)
            pos += offset_size + length_size
            yield method, base + offset, length


def sniff(path: Path) -> str:
    """The format from the first bytes, never from the name or the declared type."""
    with open(path, "rb") as f:
        head = f.read(32)
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if (
        head[4:8] == b"ftyp"
        and head[8:12] not in (b"avif", b"avis")
        and (
            head[8:12] in HEIF_BRANDS
            or any(head[i : i + 4] in HEIF_BRANDS for i in range(16, min(len(head), 32), 4))
        )
    ):
        return "HEIF"
    raise UnsupportedMedia(_("The file is not a JPEG, PNG, WebP or HEIC image."))


def draft_size(stored: tuple[int, int], long_side: int) -> tuple[int, int]:
    """The draft request for a target long side, in the stored (unrotated) orientation.

    JPEG draft reduces by 1/2, 1/4 or 1/8 while BOTH sides stay at least the requested size,
    so a square request would block any reduction of a 4:3 photo.
    """
    w, h = stored
    scale = min(1.0, long_side / max(w, h))
    return max(1, math.ceil(w * scale)), max(1, math.ceil(h * scale))


def _fit(im: Image.Image, long_side: int) -> Image.Image:
    """Downscale to the long side (never up). Bicubic: after the draft decode the remaining
    step is small, where Lanczos costs 40 % more for no visible gain."""
    w, h = im.size
    if max(w, h) <= long_side:
        return im
    scale = long_side / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return im.resize(size, Image.Resampling.BICUBIC, reducing_gap=3.0)


def _flatten(im: Image.Image) -> Image.Image:
    """RGB, transparency flattened on white."""
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        im = Image.new("RGB", rgba.size, "white")
        im.paste(rgba, mask=rgba.getchannel("A"))
    elif im.mode.startswith("I"):  # 16-bit greyscale: scale to 8 bits (a plain convert clips)
        im = im.convert("I").point(lambda v: v / 256).convert("RGB")
    elif im.mode != "RGB":
        im = im.convert("RGB")
    return im


def _to_srgb(im: Image.Image, icc: bytes | None) -> Image.Image:
    """Pixels in sRGB, which is what a JPEG without a profile means."""
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            if "srgb" not in ImageCms.getProfileDescription(source).lower():  # e.g. Display P3
                im = ImageCms.profileToProfile(im, source, _SRGB, outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken profile is dropped like the rest of the metadata
    return im


def _too_many_pixels(size: tuple[int, int] | None, limit: int) -> TooLarge:
    """Exact counts, never rounded: a refused image must never read as within the limit."""
    if size is None:
        return TooLarge(
            _("The image has more than {limit} pixels, the limit.").format(limit=f"{limit:,}")
        )
    return TooLarge(
        _(
            "The image has {width} × {height} = {pixels} pixels; the limit is {limit} pixels."
        ).format(width=size[0], height=size[1], pixels=f"{size[0] * size[1]:,}", limit=f"{limit:,}")
    )


# --- EXIF as data ------------------------------------------------------------------------------

EXIF_IFD, GPS_IFD = 0x8769, 0x8825
ORIENTATION, DATETIME, DATETIME_ORIGINAL, OFFSET_TIME_ORIGINAL = 0x0112, 0x0132, 0x9003, 0x9011
# EXIF orientation -> the transpose that turns stored pixels upright (as ImageOps.exif_transpose).
TRANSPOSE = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _facts(im: Image.Image, fmt: str, settings: Settings, stored: tuple[int, int]) -> Facts:
    """Upright size (of the stored pixels, before any draft reduction), capture time and GPS.
    Broken or absurd EXIF is ignored, never an error."""
    w, h = stored
    exif = _safe(im.getexif)
    orientation = _safe(lambda: int(exif.get(ORIENTATION, 1))) if exif is not None else 1
    if orientation not in TRANSPOSE:
        orientation = 1
    if orientation in (5, 6, 7, 8):
        w, h = h, w
    taken_at = gps = None
    if exif is not None:
        taken_at = _safe(lambda: _capture_time(exif, settings.timezone))
        gps = _safe(lambda: _gps(exif.get_ifd(GPS_IFD)))
    return Facts(fmt, w, h, taken_at, gps, orientation)


def _safe(read, failed=None):
    try:
        return read()
    except Exception:
        return failed


def _capture_time(exif: Image.Exif, tz_name: str) -> datetime | None:
    ifd = exif.get_ifd(EXIF_IFD)
    raw = ifd.get(DATETIME_ORIGINAL) or exif.get(DATETIME)
    if not isinstance(raw, str):
        return None
    local = datetime.strptime(raw.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S")
    offset = ifd.get(OFFSET_TIME_ORIGINAL)
    if isinstance(offset, str) and re.fullmatch(r"[+-]\d\d:\d\d", offset.strip("\x00 ")):
        sign = -1 if offset.startswith("-") else 1
        zone = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))
        at = local.replace(tzinfo=zone)
    else:  # phones write local wall-clock time; the city's zone is the best guess
        at = local.replace(tzinfo=ZoneInfo(tz_name))
    at = at.astimezone(UTC)
    if not EARLIEST_CAPTURE <= at <= utcnow() + timedelta(days=1):
        return None
    return at


def _gps(ifd) -> tuple[float, float] | None:
    lat = _degrees(ifd.get(2), ifd.get(1), 90)
    lon = _degrees(ifd.get(4), ifd.get(3), 180)
    if lat is None or lon is None or (lat == 0 and lon == 0):
        return None
    return round(lat, 7), round(lon, 7)


def _degrees(dms, ref, limit: float) -> float | None:
    if dms is None or len(dms) != 3:
        return None
    d, m, s = (float(v) for v in dms)
    if not all(math.isfinite(v) and v >= 0 for v in (d, m, s)) or m >= 60 or s >= 60:
        return None
    value = d + m / 60 + s / 3600
    if value > limit:
        return None
    ref = ref.decode("ascii", "replace") if isinstance(ref, bytes) else (ref or "")
    return -value if ref.strip("\x00 ").upper() in ("S", "W") else value
