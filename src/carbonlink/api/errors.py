"""Error bodies and the exception handlers of the web API.

Every error response is one JSON shape, :class:`ErrorBody`: a message and the ``(path, reason)``
problems, the same ones ``carbonlink`` prints on the command line. A document error (including
request validation) is HTTP 422, an unknown id 404, any other :class:`CarbonlinkError` 400.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from carbonlink.errors import CarbonlinkError, DocumentError, problems_from_errors


class Problem(BaseModel):
    """One thing wrong with a request: where (``markets[1].mac.slope``) and why."""

    path: str = Field(description="document path of the field (``<document>`` for the whole "
                      "document; ``query.NAME`` / ``path.NAME`` for URL parameters)")
    reason: str


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: str = Field(description="one-line (or multi-line) message, as the CLI prints it")
    problems: list[Problem] = Field(default_factory=list)


#: OpenAPI ``responses`` entries for the error statuses a route can return.
BAD_REQUEST: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "the request was understood but refused (e.g. the "
          "registry database is not initialised, or the solver failed)"},
}
INVALID: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorBody, "description": "invalid document or parameter: each problem "
          "names the field path and the reason"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "unknown id"},
}


class NotFound(StarletteHTTPException):
    """An id that names nothing (HTTP 404)."""

    def __init__(self, message: str) -> None:
        super().__init__(status_code=404, detail=message)


def error_response(status: int, message: str, problems: list[tuple[str, str]] | None = None,
                   headers: Mapping[str, str] | None = None) -> JSONResponse:
    body = ErrorBody(error=message, problems=[Problem(path=p, reason=r) for p, r in problems or []])
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def _request_problems(exc: RequestValidationError) -> list[tuple[str, str]]:
    """FastAPI reports body fields under ``("body", …)``: the document path is what follows."""
    errors = []
    malformed: list[tuple[str, str]] = []
    for e in exc.errors():
        loc = tuple(e.get("loc", ()))
        if e.get("type") == "json_invalid":  # loc is ("body", character offset)
            detail = (e.get("ctx") or {}).get("error", e.get("msg", ""))
            where = f" at character {loc[1]}" if len(loc) > 1 else ""
            malformed.append(("<document>", f"malformed JSON: {detail}{where}"))
            continue
        if loc == ("body",) and e.get("type") == "missing":
            malformed.append(("<document>", "required: send the document as a JSON object"))
            continue
        if loc[:1] == ("body",):
            loc = loc[1:]
        errors.append({**e, "loc": loc})
    return malformed + [(p or "<document>", r) for p, r in problems_from_errors(errors)]


def install_error_handlers(app: FastAPI) -> None:
    """Map carbonlink's exception tree (and FastAPI's own errors) to :class:`ErrorBody`."""

    async def document_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DocumentError)
        code = getattr(exc, "code", "")
        if code == "S7003":     # registry: credentials missing, wrong, expired or locked
            return error_response(401, exc.message, exc.problems,
                                  headers={"WWW-Authenticate": "Bearer"})
        if code in ("S7001", "S7002"):     # registry: the user's role does not allow it
            return error_response(403, exc.message, exc.problems)
        return error_response(422, exc.message, exc.problems)

    async def carbonlink_error(_: Request, exc: Exception) -> JSONResponse:
        return error_response(400, str(exc))

    async def validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        problems = _request_problems(exc)
        return error_response(422, DocumentError(problems).message, problems)

    async def http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return error_response(exc.status_code, str(exc.detail), headers=exc.headers)

    async def unexpected_error(_: Request, exc: Exception) -> JSONResponse:
        # a bug, not bad input: the documented error body (the server still logs the traceback)
        return error_response(500, f"internal error ({type(exc).__name__}); please report it")

    app.add_exception_handler(Exception, unexpected_error)
    app.add_exception_handler(DocumentError, document_error)
    app.add_exception_handler(CarbonlinkError, carbonlink_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
