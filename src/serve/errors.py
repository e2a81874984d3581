"""Client errors the services turn into 4xx JSON answers (never a 5xx)."""

from __future__ import annotations


class ClientError(ValueError):
    """A request that cannot be answered as asked; ``status`` is the HTTP code to send."""

    status = 400

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        if status is not None:
            self.status = status


class NotFound(ClientError):
    status = 404
