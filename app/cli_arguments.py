"""Argument types shared by the `mobivate-hooks` commands: a bad value is a usage error (exit 2)
that names it."""

import argparse
from datetime import timedelta

from app.services.reconcile import parse_duration


def positive_int(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive whole number")
    return int(value)


def duration(value: str) -> timedelta:
    """`30m`, `6h`, `90d`, ..."""
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
