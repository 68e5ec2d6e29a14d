"""POST /api/v1/photos: the multipart body is parsed as it streams in, so an oversized upload is
refused at the first byte over the limit instead of being spooled whole by the framework."""

from __future__ import annotations

from fastapi import APIRouter, Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header
from starlette.concurrency import run_in_threadpool

from inspect_app.deps import CurrentUser, SessionDep, SettingsDep
from inspect_app.domain import photos
from inspect_app.domain.errors import Invalid, UnsupportedMedia
from inspect_app.i18n import _
from inspect_app.schemas import PhotoOut

router = APIRouter(tags=["photos"])

# Room for the multipart framing and small fields around the file itself.
MULTIPART_SLACK = 64 * 1024
# Parser states after the closing boundary ("--boundary--"), with or without what may follow it.
COMPLETE = {MultipartState.END, MultipartState.BOUNDARY_PADDING}


UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


class FilePart:
    """Feeds the part named `file` of a multipart body into a photos.Incoming; skips the rest."""

    def __init__(self, settings, boundary: bytes):
        self.settings = settings
        self.incoming: photos.Incoming | None = None
        self.filename: str | None = None
        self.content_type: str | None = None
        self._headers: dict[bytes, bytes] = {}
        self._field = b""
        self._value = b""
        self._target: photos.Incoming | None = None
        self.parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._part_begin,
                "on_header_field": lambda data, start, end: self._add("_field", data[start:end]),
                "on_header_value": lambda data, start, end: self._add("_value", data[start:end]),
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
            },
        )

    def _add(self, attr: str, data: bytes) -> None:
        setattr(self, attr, getattr(self, attr) + data)

    def _part_begin(self) -> None:
        self._headers, self._target = {}, None

    def _header_end(self) -> None:
        self._headers[self._field.lower()] = self._value
        self._field = self._value = b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        if options.get(b"name") != b"file" or self.incoming is not None:
            return
        raw_name = options.get(b"filename")
        self.filename = raw_name.decode("utf-8", "replace") if raw_name is not None else None
        self.content_type = self._headers.get(b"content-type", b"").decode("latin-1") or None
        photos.check_declared(self.filename, self.content_type)  # refuse before reading the bytes
        self.incoming = self._target = photos.Incoming(self.settings)

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._target is not None:
            self._target.write(data[start:end])


@router.post(
    "/photos",
    status_code=201,
    response_model=PhotoOut,
    openapi_extra=UPLOAD_BODY,
    responses={
        413: {"description": "Too large"},
        415: {"description": "Not a photo"},
        503: {
            "description": "Busy decoding other photos: retry after the Retry-After seconds",
            "headers": {"Retry-After": {"schema": {"type": "integer"}}},
        },
    },
)
async def upload_photo(
    request: Request, session: SessionDep, settings: SettingsDep, user: CurrentUser
):
    """Upload one photo (multipart field `file`): JPEG, PNG, WebP or HEIC."""
    media, options = parse_options_header(request.headers.get("content-type", ""))
    if media != b"multipart/form-data" or not options.get(b"boundary"):
        raise UnsupportedMedia(_("Send the photo as multipart/form-data in the field 'file'."))
    body_limit = settings.max_upload_bytes + MULTIPART_SLACK
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > body_limit:
        raise photos.too_large(settings.max_upload_bytes)
    part = FilePart(settings, options[b"boundary"])
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > body_limit:
                raise photos.too_large(settings.max_upload_bytes)
            part.parser.write(chunk)
        part.parser.finalize()
        if part.parser.state not in COMPLETE:  # cut off before the closing boundary
            raise Invalid(_("The upload is incomplete (the body ended early); send it again."))
        if part.incoming is None:
            raise Invalid(_("Send the photo as multipart/form-data in the field 'file'."))
    except MultipartParseError:
        if part.incoming is not None:
            part.incoming.discard()
        raise Invalid(_("Send the photo as multipart/form-data in the field 'file'.")) from None
    except BaseException:  # also ClientDisconnect, logged in one line by main's handler
        if part.incoming is not None:
            part.incoming.discard()
        raise
    photo = await run_in_threadpool(
        photos.ingest, session, settings, user, part.incoming, part.filename, part.content_type
    )
    return photos.photo_json(photo)
