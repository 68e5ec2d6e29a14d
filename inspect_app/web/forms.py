"""Reading a posted page form (urlencoded, or multipart with photos) with its size bounded
while it is read: a no-JS form with files never spools more than the limit to disk."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from python_multipart.multipart import parse_options_header
from starlette.datastructures import FormData

from inspect_app.domain import photos
from inspect_app.domain.errors import Invalid
from inspect_app.i18n import _

# A plain form may carry a few photos at once; each is still judged by the photo pipeline.
PHOTOS_PER_FORM = 3


def form_reader(max_files: int, max_fields: int):
    """A dependency that returns the request's form, refusing (413) a body over the limit."""

    async def read(request: Request) -> FormData:
        settings = request.app.state.settings
        limit = settings.max_upload_bytes * PHOTOS_PER_FORM
        declared = request.headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > limit:
            raise photos.too_large(limit)
        seen = 0
        media, options = parse_options_header(request.headers.get("content-type", ""))
        # A multipart body ends with its close delimiter; one cut short (a dropped connection)
        # still parses, minus its last part, and would pass for a form without the photo.
        close = b"--" + options[b"boundary"] + b"--" if options.get(b"boundary") else None
        tail, closed = b"", close is None or media != b"multipart/form-data"

        async def counting_receive():
            nonlocal seen, tail, closed
            message = await request.receive()
            body = message.get("body", b"")
            seen += len(body)
            if seen > limit:
                raise photos.too_large(limit)
            if not closed:
                window = tail + body
                closed = close in window
                tail = window[-len(close) :]
            return message

        bounded = Request(request.scope, counting_receive)
        form = await bounded.form(max_files=max_files, max_fields=max_fields)
        if not closed:
            await form.close()
            raise Invalid(_("The upload is incomplete (the body ended early); send it again."))
        return form

    return read


def form_dependency(max_files: int, max_fields: int):
    return Annotated[FormData, Depends(form_reader(max_files, max_fields))]
