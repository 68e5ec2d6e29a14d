"""Who may see what: the one place the role rules of the product brief are written down."""

from __future__ import annotations

from inspect_app.domain.errors import Forbidden
from inspect_app.i18n import _
from inspect_app.models import Role, User

# Roles that see every district.
CITY_WIDE = {Role.office, Role.admin}


def require_role(user: User, *roles: str) -> None:
    if user.role not in roles:
        raise Forbidden(_("Your role may not do this."))


def district_scope(user: User) -> int | None:
    """None for city-wide roles; else the one district the user works in.

    An officer or inspector without a district sees nothing rather than everything (-1).
    """
    if user.role in CITY_WIDE:
        return None
    return user.district_id if user.district_id is not None else -1


def can_see_district(user: User, district_id: int | None) -> bool:
    scope = district_scope(user)
    return scope is None or scope == district_id
