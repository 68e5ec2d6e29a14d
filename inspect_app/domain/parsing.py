"""The one strict parser for ids, integers and dates that arrive as text (query parameters,
form fields, JSON values of unknown type).

Why strict: `str.isdigit()` accepts '¹' or '٣', which `int()` then refuses (or reads as another
digit), and a huge number or a date at the calendar's edge overflows a database integer or
the UTC conversion of a local day. Every value is checked here against ASCII digits and sane
bounds, and anything else is `Invalid` (422 with a JSON detail on the API, a form error on
pages) before it reaches a query.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from typing import Any

from inspect_app.domain.errors import Invalid
from inspect_app.i18n import _

MAX_ID = 2**31 - 1  # a database INTEGER primary key
MAX_INT = 2**31 - 1
# Local days a filter, deadline or period may name: wide enough for any real record, narrow
# enough that the UTC instant of the next day's start exists (9999-12-31 + 1 does not).
MIN_DATE = date(1900, 1, 1)
MAX_DATE = date(2199, 12, 31)

_INT = re.compile(r"-?[0-9]{1,18}", re.ASCII)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def parse_int(
    value: Any, label: str, *, low: int = -MAX_INT, high: int = MAX_INT, errors=None
) -> int | None:
    """An integer written in ASCII digits within [low, high]; None for an empty value.
    `errors` (optional) is attached to the Invalid, e.g. {field: message} for a form."""
    if _blank(value):
        return None
    if isinstance(value, bool):
        raise _not_a_number(label, value, errors)
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _INT.fullmatch(value.strip()):
        number = int(value.strip())
    else:
        raise _not_a_number(label, value, errors)
    if not low <= number <= high:
        raise Invalid(
            _("{label}: {value} is outside {low} to {high}.").format(
                label=label, value=number, low=low, high=high
            ),
            errors=errors,
        )
    return number


def parse_id(value: Any, label: str) -> int | None:
    """A database id (1 .. 2^31-1), or None for an empty value."""
    return parse_int(value, label, low=1, high=MAX_ID)


def parse_ids(values: Iterable[Any], label: str) -> list[int]:
    """Ids in their order, without repeats and without empty values."""
    ids = (parse_id(v, label) for v in values)
    return list(dict.fromkeys(i for i in ids if i is not None))


def parse_date(value: Any, label: str, *, errors=None) -> date | None:
    """A local day written YYYY-MM-DD between MIN_DATE and MAX_DATE; None for an empty value."""
    if _blank(value):
        return None
    if isinstance(value, date):
        day = value
    else:
        text = value.strip() if isinstance(value, str) else ""
        try:
            day = date.fromisoformat(text) if _DATE.fullmatch(text) else None
        except ValueError:
            day = None
        if day is None:
            raise Invalid(
                _("{label}: not a date (YYYY-MM-DD): {value}").format(label=label, value=value),
                errors=errors,
            )
    check_date(day, label, errors=errors)
    return day


def check_date(day: date, label: str, *, errors=None) -> date:
    """The bounds of parse_date, for dates already parsed (e.g. by pydantic)."""
    if not MIN_DATE <= day <= MAX_DATE:
        raise Invalid(
            _("{label}: {value} is outside {low} to {high}.").format(
                label=label, value=day.isoformat(), low=MIN_DATE, high=MAX_DATE
            ),
            errors=errors,
        )
    return day


def _not_a_number(label: str, value: Any, errors) -> Invalid:
    return Invalid(
        _("{label}: not a whole number: {value}").format(label=label, value=value), errors=errors
    )
