"""Serves the stored web copy and thumbnail of a photo to users allowed to see it (else 404).

The original is never served: it is evidence kept in storage, not a page resource.

From object storage (S3) the bytes are streamed through the app rather than handed out as
presigned URLs: the authorisation check runs on every request exactly as for the local folder,
a photo URL stays stable (the browser and the offline cache key on it), no bearer-like URL ends
up in logs, histories or forwarded screenshots, and the store need not be reachable from phones
(an internal MinIO or an OSS bucket without public endpoint). A web copy is ~200 KB, so the
extra hop costs little next to the decode an upload costs.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import FileResponse, StreamingResponse

from inspect_app.deps import CurrentUser, SessionDep, SettingsDep
from inspect_app.domain import photos, storage
from inspect_app.domain.errors import NotFound
from inspect_app.i18n import _
from inspect_app.models import Photo

router = APIRouter(tags=["photos"])

# A photo id always names the same bytes, but only for allowed users: no shared caches.
CACHE = "private, max-age=31536000, immutable"


def _serve(
    session, settings, user, photo_id: int, variant: Literal["web", "thumb"]
) -> FileResponse | StreamingResponse:
    photo = session.get(Photo, photo_id)
    if photo is None or not photos.can_view(session, user, photo):
        raise NotFound(_("No such photo."))
    store = storage.for_settings(settings)
    key = photos.key_for(photo, variant)
    headers = {"Cache-Control": CACHE}
    path = store.local_path(key)
    if path is not None:
        if not path.is_file():
            raise NotFound(_("No such photo."))
        return FileResponse(path, media_type="image/jpeg", headers=headers)
    try:
        body = store.chunks(key)
    except FileNotFoundError:
        raise NotFound(_("No such photo.")) from None
    headers["Content-Length"] = str(body.size)
    return StreamingResponse(body, media_type="image/jpeg", headers=headers)


JPEG = {200: {"content": {"image/jpeg": {}}, "description": "The photo (JPEG)."}}


@router.get("/photos/{photo_id}", response_class=FileResponse, responses=JPEG)
def photo_web(photo_id: int, session: SessionDep, settings: SettingsDep, user: CurrentUser):
    return _serve(session, settings, user, photo_id, "web")


@router.get("/photos/{photo_id}/thumb", response_class=FileResponse, responses=JPEG)
def photo_thumb(photo_id: int, session: SessionDep, settings: SettingsDep, user: CurrentUser):
    return _serve(session, settings, user, photo_id, "thumb")
