"""Reading a posted page form (urlencoded, or multipart with photos) with its size bounded
while it is read: a no-JS form with files never spools more than the limit to disk."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import FormData

from inspect_app.domain import photos

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

        async def counting_receive():
            nonlocal seen
            message = await request.receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise photos.too_large(limit)
            return message

        bounded = Request(request.scope, counting_receive)
        return await bounded.form(max_files=max_files, max_fields=max_fields)

    return read


def form_dependency(max_files: int, max_fields: int):
    return Annotated[FormData, Depends(form_reader(max_files, max_fields))]
