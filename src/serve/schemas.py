"""Response pieces both services share."""

from __future__ import annotations

from pydantic import BaseModel
from starlette.responses import JSONResponse

from src.serve.errors import ClientError


class ModelInfo(BaseModel):
    name: str
    version: str


def error_response(err: ClientError) -> JSONResponse:
    """``{"error": message}`` with the error's status (BentoML's own wraps it in a list)."""
    return JSONResponse({"error": str(err)}, status_code=err.status)


def answer(schema: type[BaseModel], fn, *args, **kwargs):
    """``schema``-validated result of ``fn(*args, **kwargs)``, or the 4xx of its ClientError."""
    try:
        out = fn(*args, **kwargs)
    except ClientError as err:
        return error_response(err)
    return schema.model_validate(out)
