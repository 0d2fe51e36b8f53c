"""The exit codes of every `mobivate-hooks` command, and how a command reports a database it
could not use or migrate: one line and `DATABASE`, never a traceback, a password or SQL
parameters."""

from enum import IntEnum

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from app.core.db import DATABASE_ERRORS
from app.core.logs import redact


class ExitCode(IntEnum):
    OK = 0
    # Mobivate refused (its message is printed), or part of the work failed (run it again).
    FAILED = 1
    # A setting or an argument is wrong.
    BAD_INPUT = 2
    # Mobivate could not be reached (`serve`: the address could not be bound).
    UNREACHABLE = 3
    # The database could not be used or migrated.
    DATABASE = 4


_DATABASE_PACKAGES = frozenset({"sqlalchemy", "alembic", "asyncpg", "aiosqlite", "psycopg"})


def _is_migration_error(exc: BaseException) -> bool:
    return type(exc).__module__.startswith("alembic.") and type(exc).__name__ == "CommandError"


def raised_by_the_database(exc: BaseException) -> bool:
    """SQLAlchemy's and Alembic's errors, and an OSError raised with a database driver on the
    stack (a refused or unresolvable connection), as opposed to one from writing to a closed
    standard output or reading a CA bundle."""
    if _is_migration_error(exc):
        return True
    if not isinstance(exc, DATABASE_ERRORS):
        return False
    if not isinstance(exc, OSError):
        return True
    frame = exc.__traceback__
    while frame is not None:
        module = str(frame.tb_frame.f_globals.get("__name__", ""))
        if module.partition(".")[0] in _DATABASE_PACKAGES:
            return True
        frame = frame.tb_next
    return False


def _where(database_url: str) -> str:
    """The database without its password or query string (which may carry one too)."""
    try:
        return make_url(database_url).set(query={}).render_as_string(hide_password=True)
    except ArgumentError:
        return "DATABASE_URL"


def database_error_line(exc: BaseException, database_url: str) -> str:
    """The cause without SQL parameters (which may hold secrets or phone numbers), the database
    without its password, and what to check."""
    if _is_migration_error(exc):
        return f"cannot migrate the database at {_where(database_url)}: {redact(str(exc))}"
    cause = getattr(exc, "orig", None) or exc
    cause = cause.__cause__ or cause  # the driver's own error, e.g. asyncpg's, under its adapter
    detail = next((line for line in str(cause).splitlines() if line.strip()), "")
    reason = f"{type(cause).__name__}: {redact(detail)}" if detail else type(cause).__name__
    return (
        f"database error at {_where(database_url)}: {reason} "
        "(check DATABASE_URL, that the server is up, and that `mobivate-hooks migrate` has run)"
    )
