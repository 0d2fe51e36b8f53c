"""Figures that fault and fuzz tests report (events posted, acknowledged, stored, lost; cases
run, 5xx seen), printed together at the end of the test run."""

from typing import Any

_FIGURES: list[tuple[str, dict[str, Any]]] = []


def record(name: str, **figures: Any) -> None:
    _FIGURES.append((name, figures))
    print(f"{name}: " + ", ".join(f"{key}={value}" for key, value in figures.items()))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _FIGURES:
        return
    terminalreporter.section("fault and fuzz figures")
    for name, figures in _FIGURES:
        line = ", ".join(f"{key}={value}" for key, value in figures.items())
        terminalreporter.write_line(f"{name}: {line}")
