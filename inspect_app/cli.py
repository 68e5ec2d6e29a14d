"""The inspect-app command line. Long jobs print progress and end with a one-line summary;
errors say what to do next and exit non-zero."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from inspect_app.config import get_settings
from inspect_app.db import make_engine, session_for, upgrade
from inspect_app.domain.errors import DomainError
from inspect_app.i18n import _, current_locale, pick_locale


def _session():
    settings = get_settings()
    upgrade(settings.database_url)
    return session_for(make_engine(settings))


def cmd_serve(args) -> None:
    import uvicorn

    from inspect_app.main import create_app

    settings = get_settings()
    upgrade(settings.database_url)
    print(f"Database ready ({settings.database_url.split('@')[-1]}); serving on http://{args.host}:{args.port}")
    uvicorn.run(create_app(settings), host=args.host, port=args.port, proxy_headers=True,
                workers=1, log_level="info")


def cmd_db_upgrade(args) -> None:
    upgrade(get_settings().database_url)
    print("Database schema is up to date.")


def cmd_user_add(args) -> None:
    from inspect_app.domain import accounts

    if not args.password_stdin:
        raise DomainError(_("Pass the password on standard input with --password-stdin."))
    password = sys.stdin.readline().rstrip("\r\n")
    with _session() as session:
        user = accounts.create_user(session, args.username, password, args.role, args.district)
    print(f"Added {user.role} {user.username}" + (f" ({args.district})" if args.district else ""))


def cmd_template_import(args) -> None:
    from inspect_app.domain import checklists

    with _session() as session:
        version = checklists.import_yaml_file(session, Path(args.file))
    print(f"Checklist published: template {version.template_id}, version {version.version}")


def cmd_districts_import(args) -> None:
    from inspect_app.domain import geo

    with _session() as session:
        added, updated = geo.import_districts_file(session, Path(args.file))
    print(f"Districts imported: {added} added, {updated} updated")


def cmd_demo(args) -> None:
    from inspect_app.domain import demo

    settings = get_settings()
    with _session() as session:
        demo.load(session, settings, progress=lambda msg: print(msg, flush=True))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inspect-app", description="Inspect: safety inspections for a city")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="migrate the database if needed and serve")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("demo", help="load the demo region (idempotent)")
    p.set_defaults(func=cmd_demo)

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply migrations").set_defaults(func=cmd_db_upgrade)

    user = sub.add_parser("user", help="users").add_subparsers(dest="user_command", required=True)
    p = user.add_parser("add", help="add a user")
    p.add_argument("username")
    p.add_argument("--role", required=True, choices=["inspector", "officer", "office", "admin"])
    p.add_argument("--district")
    p.add_argument("--password-stdin", action="store_true")
    p.set_defaults(func=cmd_user_add)

    template = sub.add_parser("template", help="checklist templates").add_subparsers(dest="t_command", required=True)
    p = template.add_parser("import", help="import a checklist (YAML) as a new published version")
    p.add_argument("file")
    p.set_defaults(func=cmd_template_import)

    districts = sub.add_parser("districts", help="districts").add_subparsers(dest="d_command", required=True)
    p = districts.add_parser("import", help="import district boundaries from GeoJSON")
    p.add_argument("file")
    p.set_defaults(func=cmd_districts_import)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    lang = os.environ.get("LC_ALL") or os.environ.get("LANG") or ""
    current_locale.set(pick_locale(lang.split(".")[0] if lang.lower().startswith(("en", "zh")) else None,
                                   None, get_settings().default_locale))
    try:
        args.func(args)
    except DomainError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.errors:
            for problem in exc.errors if isinstance(exc.errors, list) else [exc.errors]:
                print(f"  - {problem}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
