"""Argument types shared by the `mobivate-hooks` commands: a bad value is a usage error (exit 2)
that names it."""

import argparse
from collections.abc import Callable
from datetime import date, timedelta

from app.delivery.reconcile import parse_duration


def whole_number(low: int = 1, high: int | None = None) -> Callable[[str], int]:
    def parse(value: str) -> int:
        if value.isdigit() and int(value) >= low and (high is None or int(value) <= high):
            return int(value)
        bounds = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number {bounds}")

    return parse


positive_int = whole_number(1)
port_number = whole_number(1, 65535)


def duration(value: str) -> timedelta:
    """`30m`, `6h`, `90d`, ..."""
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def duration_or_zero(value: str) -> timedelta:
    """As `duration`, and `0s` (no minimum age) too."""
    try:
        return parse_duration(value, zero=True)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date: use YYYY-MM-DD") from None
