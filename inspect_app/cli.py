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


def default_workers(settings) -> int:
    """One process on SQLite: the database file has one writer at a time, so more processes
    only queue on its lock (and wait up to the busy timeout). PostgreSQL takes concurrent
    writers: one process per CPU core (a worker is one Python interpreter, one core at most)."""
    return 1 if settings.is_sqlite else max(1, os.cpu_count() or 1)


def cmd_serve(args) -> None:
    import uvicorn

    settings = get_settings()
    workers = args.workers or default_workers(settings)
    if workers < 1:
        raise DomainError(_("--workers must be at least 1."))
    # Once, before the workers start (and under a lock on PostgreSQL: several servers may
    # start together).
    upgrade(settings.database_url)
    print(
        f"Database ready ({settings.database_url.split('@')[-1]}); serving on "
        f"http://{args.host}:{args.port} with {workers} worker process{'es' if workers > 1 else ''}"
    )
    # Each worker builds its app from the same environment (INSPECT_*), so pass the factory.
    uvicorn.run(
        "inspect_app.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        proxy_headers=False,  # forwarding headers: INSPECT_TRUSTED_PROXIES (middleware)
        workers=workers,
        # The supervisor restarts a worker that misses its ping for this long: uvicorn's 5 s
        # kills workers still importing the app on a busy machine, over and over.
        timeout_worker_healthcheck=30,
        log_level="info",
    )


def cmd_db_upgrade(args) -> None:
    upgrade(get_settings().database_url)
    print("Database schema is up to date.")


def cmd_user_add(args) -> None:
    from inspect_app.domain import accounts

    if not args.password_stdin:
        raise DomainError(_("Pass the password on standard input with --password-stdin."))
    password = sys.stdin.readline().rstrip("\r\n")
    with _session() as session:
        user = accounts.create_user(
            session, args.username, password, args.role, args.district, email=args.email
        )
    print(
        f"Added {user.role} {user.username}"
        + (f" ({args.district})" if args.district else "")
        + (f" <{user.email}>" if user.email else "")
    )


def cmd_template_import(args) -> None:
    from inspect_app.domain import checklists

    with _session() as session:
        if args.file.lower().endswith(".xlsx"):
            version = checklists.import_xlsx_file(session, Path(args.file))
        else:
            version = checklists.import_yaml_file(session, Path(args.file))
    print(f"Checklist published: template {version.template_id}, version {version.version}")


def cmd_template_export(args) -> None:
    from inspect_app.domain import checklists

    with _session() as session:
        template, version = checklists.get_template(session, args.template_id)
        Path(args.output).write_bytes(
            checklists.spec_to_xlsx(checklists.version_spec(session, version))
        )
    print(f"Checklist {template.key} version {version.version} written to {args.output}")


def cmd_sites_import(args) -> None:
    from inspect_app.domain import sites

    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        raise DomainError(f"Cannot read {args.file}: {exc}") from exc
    with _session() as session:
        report = sites.import_sites_xlsx(session, None, data)
    for warning in report["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"Sites imported: {len(report['added'])} added, {len(report['updated'])} updated")


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


def cmd_backup(args) -> None:
    from inspect_app.domain import backup

    manifest = backup.backup(
        get_settings(), Path(args.dir), progress=lambda msg: print(msg, flush=True)
    )
    tables = manifest["database"]["tables"]
    print(
        f"Backup written to {args.dir}: {sum(tables.values())} rows in {len(tables)} tables, "
        f"{len(manifest['files'])} files, schema {manifest['database']['alembic_revision']}"
    )
    if manifest["photos"]["missing_files"]:
        print(
            f"warning: {len(manifest['photos']['missing_files'])} photos have no file in the upload folder",
            file=sys.stderr,
        )


def cmd_restore(args) -> None:
    from inspect_app.domain import backup

    manifest = backup.restore(
        get_settings(),
        Path(args.dir),
        force=args.force,
        progress=lambda msg: print(msg, flush=True),
    )
    tables = manifest["database"]["tables"]
    print(
        f"Restored {args.dir} (made {manifest['created_at']}): {sum(tables.values())} rows, "
        f"{len(manifest['files'])} files"
    )


def cmd_notify(args) -> None:
    from inspect_app.domain import clock, notify

    settings = get_settings()
    config = notify.NotifyConfig(
        smtp_url=settings.smtp_url,
        mail_from=settings.mail_from,
        webhook_url=settings.webhook_url,
        escalate_days=settings.escalate_days,
        default_locale=settings.default_locale,
        timezone=settings.timezone,
    )
    with _session() as session:
        summary = notify.run(
            session,
            config,
            now=clock.now(),
            dry_run=args.dry_run,
            say=lambda t: print(t, flush=True),
        )
    print(summary.line(args.dry_run))
    if summary.errors:
        raise DomainError(
            _("Some messages could not be sent; the next run tries them again."),
            errors=list(dict.fromkeys(summary.errors)),
        )


def cmd_gc(args) -> None:
    from inspect_app.domain import housekeeping

    with _session() as session:
        result = housekeeping.gc(
            session, get_settings(), grace_seconds=args.grace_minutes * 60, dry_run=args.dry_run
        )
    for path in result.orphans + result.temporary:
        print(("would remove " if args.dry_run else "removed ") + str(path))
    print(
        f"{'Would free' if args.dry_run else 'Freed'} {result.freed_bytes / 2**20:.1f} MB: "
        f"{len(result.orphans)} orphan photo files, {len(result.temporary)} stale temporary files; "
        f"{result.kept_young} younger than {args.grace_minutes} minutes kept; "
        f"{result.expired_sessions} expired sessions and tokens, "
        f"{result.expired_limits} finished sign-in limit windows"
        + (" would be removed" if args.dry_run else " removed")
    )


def cmd_report_weekly(args) -> None:
    from inspect_app.domain import reports

    settings = get_settings()
    with _session() as session:
        target = reports.check_request(session, None, args.week, args.district, zone=settings.zone)
        content, stored = reports.weekly_report(session, settings, target)
    out = Path(args.output)
    out.write_bytes(content)
    scope = target.district.name if target.district else "city"
    state = "stored " + stored.sha256[:12] if stored else "week in progress, not stored"
    print(
        f"Weekly report {target.week.label} ({scope}) written to {out}: {len(content) / 1024:.0f} KB ({state})"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inspect-app", description="Inspect: safety inspections for a city"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="migrate the database if needed and serve")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes (default: 1 on SQLite, one per CPU core on PostgreSQL)",
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("demo", help="load the demo region (idempotent)")
    p.set_defaults(func=cmd_demo)

    db = sub.add_parser("db", help="database schema").add_subparsers(
        dest="db_command", required=True
    )
    db.add_parser("upgrade", help="apply migrations").set_defaults(func=cmd_db_upgrade)

    user = sub.add_parser("user", help="users").add_subparsers(dest="user_command", required=True)
    p = user.add_parser("add", help="add a user")
    p.add_argument("username")
    p.add_argument("--role", required=True, choices=["inspector", "officer", "office", "admin"])
    p.add_argument("--district")
    p.add_argument("--email", help="an e-mail address for notices (inspect-app notify)")
    p.add_argument("--password-stdin", action="store_true")
    p.set_defaults(func=cmd_user_add)

    template = sub.add_parser("template", help="checklist templates").add_subparsers(
        dest="t_command", required=True
    )
    p = template.add_parser(
        "import", help="import a checklist (YAML or .xlsx) as a new published version"
    )
    p.add_argument("file")
    p.set_defaults(func=cmd_template_import)
    p = template.add_parser(
        "export", help="write a checklist's newest version as .xlsx (imports back the same)"
    )
    p.add_argument("template_id", type=int)
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=cmd_template_export)

    p = sub.add_parser("sites", help="sites").add_subparsers(dest="s_command", required=True)
    p = p.add_parser(
        "import",
        help="add or update sites from .xlsx (name, address, district, risk_class, "
        "cadence, lat, lon); all rows or none",
    )
    p.add_argument("file")
    p.set_defaults(func=cmd_sites_import)

    districts = sub.add_parser("districts", help="districts").add_subparsers(
        dest="d_command", required=True
    )
    p = districts.add_parser("import", help="import district boundaries from GeoJSON")
    p.add_argument("file")
    p.set_defaults(func=cmd_districts_import)

    p = sub.add_parser(
        "backup", help="copy the database and the photo files into a new folder (online)"
    )
    p.add_argument("dir")
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser("restore", help="replace the database and the photo files with a backup")
    p.add_argument("dir")
    p.add_argument(
        "--force", action="store_true", help="replace a database or upload folder that holds data"
    )
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser(
        "gc", help="remove photo files no photo refers to, and stale temporary files"
    )
    p.add_argument(
        "--dry-run", action="store_true", help="list what would be removed, remove nothing"
    )
    p.add_argument(
        "--grace-minutes",
        type=float,
        default=60,
        help="keep files younger than this (an upload may be about to commit them); 0 only "
        "when the server is stopped",
    )
    p.set_defaults(func=cmd_gc)

    p = sub.add_parser(
        "notify",
        help="once a day: mail officers their overdue and soon-due hazards, the office a city "
        "digest with escalations, and post the city summary to the group-robot webhook",
    )
    p.add_argument("--dry-run", action="store_true", help="print what would go; send nothing")
    p.set_defaults(func=cmd_notify)
    report = sub.add_parser("report", help="reports").add_subparsers(
        dest="r_command", required=True
    )
    p = report.add_parser("weekly", help="write the weekly PDF report of an ISO week")
    p.add_argument("--week", required=True, help="ISO week, e.g. 2026-W47")
    p.add_argument("--district", help="one district (name or id); the whole city if omitted")
    p.add_argument("-o", "--output", required=True, help="the PDF file to write")
    p.set_defaults(func=cmd_report_weekly)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    lang = os.environ.get("LC_ALL") or os.environ.get("LANG") or ""
    current_locale.set(
        pick_locale(
            lang.split(".")[0] if lang.lower().startswith(("en", "zh")) else None,
            None,
            get_settings().default_locale,
        )
    )
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
