"""The ``hocso`` command: serve, migrate, create-admin, demo, import-users, gc, backup, restore.

User mistakes print one clear line on stderr and exit 1; no tracebacks.
"""

from __future__ import annotations

import csv
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from app.core.config import PROJECT_ROOT, Settings, get_settings
from app.core.db import make_engine, make_sessionmaker, session_scope
from app.core.errors import AppError

if TYPE_CHECKING:
    from app.accounts.importer import Activation

cli = typer.Typer(
    name="hocso",
    help="HọcSố — LMS + LCMS for Vietnamese schools.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str) -> typer.Exit:
    typer.echo(f"hocso: error: {message}", err=True)
    return typer.Exit(1)


def friendly(func: F) -> F:
    """Turn the errors a user can cause into one line and exit status 1."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except AppError as exc:
            raise fail(exc.detail) from None
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            raise fail(f"invalid setting {where}: {first.get('msg')}".strip()) from None
        except (OperationalError, ProgrammingError) as exc:
            raise fail(
                f"database not ready ({exc.orig.__class__.__name__}: "
                f"{str(exc.orig).splitlines()[0]}); did you run 'hocso migrate'?"
            ) from None

    return wrapper  # type: ignore[return-value]


def load_settings() -> Settings:
    return get_settings()


@contextmanager
def unit_of_work(settings: Settings) -> Iterator[Session]:
    engine = make_engine(settings)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            yield session
    finally:
        engine.dispose()


def alembic_config(settings: Settings) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", settings.database_url.replace("%", "%%"))
    return cfg


@cli.command()
@friendly
def migrate() -> None:
    """Bring the database schema up to date (alembic upgrade head)."""
    from alembic import command

    settings = load_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(settings), "head")
    typer.echo("Database is up to date.")


@cli.command()
@friendly
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes")] = 1,
    reload: Annotated[bool, typer.Option(help="Reload on code changes (development)")] = False,
) -> None:
    """Serve the web app and the API."""
    import uvicorn

    settings = load_settings()
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        reload=reload,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )


@cli.command("create-admin")
@friendly
def create_admin(
    email: Annotated[str, typer.Option(help="Email (the sign-in name)")],
    password: Annotated[str, typer.Option(help="Password (at least 8 characters)")],
    name: Annotated[str, typer.Option(help="Full name")] = "Quản trị viên",
    organization_id: Annotated[
        int | None, typer.Option(help="Organisation id (default: the first root)")
    ] = None,
) -> None:
    """Create an administrator (and a root organisation if there is none yet)."""
    from sqlalchemy import select

    from app.accounts import service
    from app.accounts.models import Organization, Role

    settings = load_settings()
    with unit_of_work(settings) as session:
        if organization_id is None:
            root = session.scalar(
                select(Organization)
                .where(Organization.parent_id.is_(None))
                .order_by(Organization.id)
            )
            if root is None:
                root = Organization(name="Tỉnh Thái Nguyên", kind="province")
                session.add(root)
                session.flush()
            organization_id = root.id
        user = service.create_user(
            session,
            settings,
            None,
            email=email,
            full_name=name,
            role=Role.admin.value,
            organization_id=organization_id,
            password=password,
        )
        typer.echo(f"Created administrator {user.email} (id {user.id}).")


@cli.command()
@friendly
def demo() -> None:
    """Load demo data (idempotent): Tân Cương commune, its schools and users."""
    from sqlalchemy import select

    from app.accounts.demo import DEMO_PASSWORD, load_demo
    from app.accounts.models import User
    from app.community.clubs.demo import load_demo as load_demo_clubs
    from app.community.events.demo import load_demo as load_demo_events
    from app.core.storage import make_blob_store
    from app.lcms.demo import load_demo as load_demo_content
    from app.lms.demo import load_demo as load_demo_course
    from app.reports.demo import load_demo as load_demo_reports

    settings = load_settings()
    with unit_of_work(settings) as session:
        created = load_demo(session, settings)
        author = session.scalar(select(User).where(User.email == "tacgia@tancuong.edu.vn"))
        admin = session.scalar(select(User).where(User.email == "admin@tancuong.edu.vn"))
        if author is not None and admin is not None:
            created += load_demo_content(session, make_blob_store(settings), author)
            created += load_demo_course(session, author, admin, admin.organization)
            created += load_demo_clubs(session)
            created += load_demo_events(session, admin, timezone=settings.timezone)
            created += load_demo_reports(session, settings)
    typer.echo(
        f"Demo data ready ({created} new records). Demo accounts, password '{DEMO_PASSWORD}':"
    )
    from app.accounts.demo import DEMO_USERS

    for email, _name, role, _org in DEMO_USERS:
        typer.echo(f"  {role:<15} {email}")


@cli.command("import-users")
@friendly
def import_users_cmd(
    file: Annotated[Path, typer.Argument(help="CSV file: email,full_name,role,organization_id")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check only; save nothing")] = False,
    links: Annotated[
        Path | None,
        typer.Option(help="Where to write the activation links (default: FILE.activation.csv)"),
    ] = None,
    base_url: Annotated[str, typer.Option(help="Public address used in the links")] = (
        "http://127.0.0.1:8000"
    ),
) -> None:
    """Import users from CSV. Nothing is saved if any line is wrong, nor if the activation
    links cannot be written (they hold the only copy of the new users' activation codes)."""
    from app.accounts.importer import import_users

    if not file.is_file():
        raise fail(f"no such file: {file}")
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {file}: {_os_reason(exc)}") from None
    out = links or file.with_suffix(".activation.csv")
    settings = load_settings()
    # The links go to a file next to ``out`` made before anything is imported (so an unwritable
    # place is found first), moved onto ``out`` before the import commits (so a failure to
    # write them rolls the import back).
    staged = None if dry_run else _stage(out)
    try:
        with unit_of_work(settings) as session:
            result = import_users(session, settings, None, data, dry_run=dry_run)
            if result.activations and staged is not None:
                try:
                    _write_links(staged, out, result.activations, base_url)
                except OSError as exc:
                    raise _links_failed(out, exc) from None
    finally:
        if staged is not None:
            staged.unlink(missing_ok=True)
    for error in result.errors:
        typer.echo(f"{file}:{error.line}: {error.message}", err=True)
    if result.errors:
        raise fail(f"{len(result.errors)} line(s) wrong; nothing was imported")
    verb = "would create" if dry_run else "created"
    typer.echo(f"{verb} {result.created}, skipped {result.skipped} (already there)")
    if result.activations and not dry_run:
        typer.echo(f"activation links written to {out}")


def _os_reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or exc.__class__.__name__


def _links_failed(out: Path, exc: OSError) -> typer.Exit:
    return fail(
        f"cannot write the activation links to {out}: {_os_reason(exc)}; nothing was imported"
    )


def _stage(out: Path) -> Path:
    """An empty file beside ``out`` (readable by its owner only: the links are secrets)."""
    if out.is_dir():
        raise fail(f"cannot write the activation links to {out}: it is a directory")
    try:
        handle, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    except OSError as exc:
        raise _links_failed(out, exc) from None
    os.close(handle)
    return Path(name)


def _write_links(staged: Path, out: Path, activations: Sequence[Activation], base_url: str) -> None:
    with staged.open("w", newline="", encoding="utf-8-sig") as fh:
        writer = csv.writer(fh)
        writer.writerow(["email", "activation_url"])
        for a in activations:
            writer.writerow([a.email, f"{base_url.rstrip('/')}/activate/{a.code}"])
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(staged, out)


@cli.command()
@friendly
def gc(
    grace: Annotated[
        int, typer.Option(help="Keep files younger than this many seconds (uploads in flight)")
    ] = 3600,
) -> None:
    """Remove temp files of interrupted uploads and stored blobs no version refers to."""
    from app.core.storage import make_blob_store
    from app.lcms.service import collect_garbage

    settings = load_settings()
    with unit_of_work(settings) as session:
        result = collect_garbage(session, make_blob_store(settings), grace_seconds=grace)
    typer.echo(
        f"Removed {result.temp_files} temp file(s) and {result.orphan_blobs} orphaned blob(s)."
    )


def blobs_in_use(connection: Connection) -> list[str]:
    """Every stored blob the database refers to: the content library's register, which contest
    entry files share. Called inside the backup's snapshot."""
    from sqlalchemy import select

    from app.lcms.models import Blob

    return list(connection.scalars(select(Blob.sha256)))


@cli.command()
@friendly
def backup(
    out: Annotated[Path, typer.Argument(help="Archive to write: .tar, or .tar.gz to compress")],
    force: Annotated[bool, typer.Option("--force", help="Replace OUT if it exists")] = False,
) -> None:
    """Back up the database and the stored files into one archive, while the app serves."""
    from app.core.backup import create_backup

    result = create_backup(
        load_settings(),
        out,
        referenced_blobs=blobs_in_use,
        force=force,
        warn=lambda message: typer.echo(f"hocso: warning: {message}", err=True),
    )
    typer.echo(
        f"Backup written to {result.path}: {result.rows} rows in {result.tables} tables, "
        f"{result.blobs} files ({result.blob_bytes / 1e6:.1f} MB), {result.size / 1e6:.1f} MB "
        f"in all, {result.seconds:.1f} s."
    )
    typer.echo(f"SHA-256 of the archive: {result.sha256}")


@cli.command()
@friendly
def restore(
    archive: Annotated[Path, typer.Argument(help="Archive written by 'hocso backup'")],
    check: Annotated[
        bool, typer.Option("--check", help="Only check the archive against its manifest")
    ] = False,
) -> None:
    """Restore a backup into an empty instance (the archive is checked first)."""
    from app.core.backup import check_archive, restore_backup

    if check:
        manifest = check_archive(archive)
        typer.echo(
            f"{archive} is complete and intact: {len(manifest.files)} files match the manifest "
            f"(taken {manifest.created_at:%Y-%m-%d %H:%M} UTC, revision "
            f"{manifest.alembic_revision}, {sum(t.rows for t in manifest.tables)} rows)."
        )
        return
    settings = load_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    result = restore_backup(
        settings,
        archive,
        alembic_cfg=alembic_config(settings),
        warn=lambda message: typer.echo(f"hocso: warning: {message}", err=True),
    )
    typer.echo(
        f"Restored {result.rows} rows in {result.tables} tables and {result.blobs} files "
        f"(revision {result.revision}) in {result.seconds:.1f} s; the row counts match the "
        "manifest."
    )


def main() -> None:
    try:
        cli()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
