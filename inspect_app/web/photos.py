"""Serves the stored web copy and thumbnail of a photo to users allowed to see it (else 404).

The original is never served: it is evidence kept on disk, not a page resource.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import FileResponse

from inspect_app.deps import CurrentUser, SessionDep, SettingsDep
from inspect_app.domain import photos
from inspect_app.domain.errors import NotFound
from inspect_app.i18n import _
from inspect_app.models import Photo

router = APIRouter(tags=["photos"])

# A photo id always names the same bytes, but only for allowed users: no shared caches.
CACHE = "private, max-age=31536000, immutable"


def _serve(
    session, settings, user, photo_id: int, variant: Literal["web", "thumb"]
) -> FileResponse:
    photo = session.get(Photo, photo_id)
    if photo is None or not photos.can_view(session, user, photo):
        raise NotFound(_("No such photo."))
    path = photos.path_for(settings, photo, variant)
    if not path.is_file():
        raise NotFound(_("No such photo."))
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": CACHE})


@router.get("/photos/{photo_id}", response_class=FileResponse)
def photo_web(photo_id: int, session: SessionDep, settings: SettingsDep, user: CurrentUser):
    return _serve(session, settings, user, photo_id, "web")


@router.get("/photos/{photo_id}/thumb", response_class=FileResponse)
def photo_thumb(photo_id: int, session: SessionDep, settings: SettingsDep, user: CurrentUser):
    return _serve(session, settings, user, photo_id, "thumb")
