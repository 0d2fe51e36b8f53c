"""The errors a caller can act on. A domain raises its own subclass; the REST API answers each
with its `status` and a body `{"detail": ...}` that says what was wrong (`app.api.errors`)."""


class ServiceError(Exception):
    status: int = 422

    def __init__(self, detail: str, *, status: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status
