"""Who owns the transaction (inspect_app/domain/__init__.py): a user action commits, or rolls
back what it did when it refuses; routes never commit or roll back."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from sqlmodel import Session, select

from inspect_app.domain.errors import Invalid
from inspect_app.domain.transactions import user_action
from inspect_app.models import District

PACKAGE = Path(__file__).resolve().parents[1] / "inspect_app"


@user_action
def _add_then_refuse(session, name: str) -> None:
    district = session.exec(select(District).where(District.name == name)).one()
    district.code = "CHANGED"  # changed in memory
    session.add(District(name="新区", code="NEW"))
    session.flush()  # and written, inside the open transaction
    raise Invalid("refused")


def test_a_refused_action_leaves_nothing_behind(session, engine):
    session.add(District(name="甲区", code="D1"))
    session.commit()
    with pytest.raises(Invalid):
        _add_then_refuse(session, "甲区")
    assert not session.new and not session.dirty
    # The caller goes on with the same session, as a page rendering the problem does.
    assert [(d.name, d.code) for d in session.exec(select(District)).all()] == [("甲区", "D1")]


def test_routes_and_the_command_line_never_commit_or_roll_back():
    offenders = []
    for path in [
        *(PACKAGE / "web").glob("*.py"),
        *(PACKAGE / "api").glob("*.py"),
        PACKAGE / "cli.py",
    ]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("commit", "rollback")
            ):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.func.attr}()")
    assert offenders == [], "call a domain action instead: " + ", ".join(offenders)


@user_action
def _refuse_at_once(session, name: str) -> None:
    raise Invalid(f"no {name}")


def test_a_refusal_before_any_change_leaves_loaded_objects_usable(engine):
    """The error page reads the signed-in user after the request's session closed."""
    with Session(engine, expire_on_commit=False) as session:
        session.add(District(name="甲区", code="D1"))
        session.commit()
        district = session.exec(select(District)).one()
        with pytest.raises(Invalid):
            _refuse_at_once(session, "乙区")
    assert district.name == "甲区"
