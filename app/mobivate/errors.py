"""Errors raised by the Mobivate client, catchable by group.

`MobivateUnavailable` means "try again later"; `MobivateRefused` means Mobivate understood the
request and said no, so repeating it unchanged will not help. No message ever contains the API key.
"""


class MobivateError(Exception):
    """Base class for everything the Mobivate client raises."""


class MobivateUnavailable(MobivateError):
    """Mobivate could not be reached or could not answer: connection error, timeout, 5xx, 429,
    or a response that could not be read. Safe calls are retried on this error."""

    def __init__(
        self, message: str, *, status_code: int | None = None, reason: str = "unavailable"
    ) -> None:
        """`reason`: unavailable (429 or 5xx), timeout, unreachable or bad_response."""
        super().__init__(message)
        self.status_code = status_code
        self.reason = reason


class MobivateRefused(MobivateError):
    """Mobivate answered with a 4xx other than 429."""

    def __init__(self, status_code: int, code: int | None, message: str, *, path: str) -> None:
        super().__init__(f"Mobivate refused {path}: HTTP {status_code}: {message}")
        self.status_code = status_code
        self.code = code
        self.message = message
        self.path = path


class MobivateAuthError(MobivateRefused):
    """The API key is missing, invalid, expired or lacks a permission (401, or 403 that is not
    about an opted-out recipient)."""


class MobivateOptedOut(MobivateRefused):
    """The recipient is on the account's opt-out list (403)."""
