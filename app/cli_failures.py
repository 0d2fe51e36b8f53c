"""How `mobivate-hooks` commands report a database they could not use: one line, exit code 4."""

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

DATABASE_ERROR = 4

# What a command sees when the database is unreachable, refuses it or lacks the schema: SQLAlchemy
# wraps driver errors, but a refused or unresolvable connection surfaces as a plain OSError.
DATABASE_ERRORS: tuple[type[BaseException], ...] = (SQLAlchemyError, OSError)


def _where(database_url: str) -> str:
    try:
        return make_url(database_url).render_as_string(hide_password=True)
    except ArgumentError:
        return "DATABASE_URL"


def database_error_line(exc: BaseException, database_url: str) -> str:
    """The cause without SQL parameters (which may hold secrets or phone numbers), the database
    without its password, and what to check."""
    cause = getattr(exc, "orig", None) or exc
    cause = cause.__cause__ or cause  # the driver's own error, e.g. asyncpg's, under its adapter
    detail = next((line for line in str(cause).splitlines() if line.strip()), "")
    reason = f"{type(cause).__name__}: {detail}" if detail else type(cause).__name__
    return (
        f"database error at {_where(database_url)}: {reason} "
        "(check DATABASE_URL, that the server is up, and that `mobivate-hooks migrate` has run)"
    )
