"""Alembic environment: the URL comes from the caller's config or from Settings."""

from alembic import context
from sqlmodel import SQLModel

import inspect_app.models  # noqa: F401  (registers the tables)
from inspect_app.config import get_settings
from inspect_app.db import make_engine

config = context.config
target_metadata = SQLModel.metadata


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    # db.upgrade passes the connection that holds the migration lock (PostgreSQL).
    given = config.attributes.get("connection")
    if given is not None:
        _run(given)
        return
    url = config.get_main_option("sqlalchemy.url") or get_settings().database_url
    settings = get_settings().model_copy(update={"database_url": url})
    engine = make_engine(settings)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


run_migrations_online()
