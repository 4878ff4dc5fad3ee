"""Errors as JSON: `{"error": <exception name>, "message": ...}` with the matching status.

Bad input is always a 4xx naming what was wrong; an unexpected failure is a 500 whose body
says so without a stack trace (the trace goes to the server log).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

from ductwork.core import errors

log = logging.getLogger("ductwork.server")

STATUS: dict[type[errors.DuctworkError], int] = {
    errors.NotFound: 404,
    errors.Forbidden: 403,
    errors.ValidationError: 422,
    errors.StatusError: 409,
    errors.Conflict: 409,
    errors.StorageError: 503,
}


def error_response(status: int, name: str, message: str) -> JSONResponse:
    return JSONResponse({"error": name, "message": message}, status_code=status)


async def _ductwork_error(request: Request, exc: Exception) -> JSONResponse:
    status = next((code for cls, code in STATUS.items() if isinstance(exc, cls)), 400)
    # Report the public base class, so clients map it back to an exception they know.
    name = next((cls.__name__ for cls in STATUS if isinstance(exc, cls)), "DuctworkError")
    return error_response(status, name, str(exc))


async def _request_invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for item in exc.errors():
        where = ".".join(str(part) for part in item.get("loc", ()) if part != "body")
        problems.append(f"{where or 'body'}: {item.get('msg', 'invalid')}")
    return error_response(422, "ValidationError", "invalid request: " + "; ".join(problems))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    name = {404: "NotFound", 405: "MethodNotAllowed", 401: "Unauthorized", 403: "Forbidden"}.get(
        exc.status_code, "HTTPError"
    )
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 404 and message == "Not Found":
        message = f"no such endpoint: {request.method} {request.url.path}"
    return error_response(exc.status_code, name, message)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("ductwork server: %s %s failed", request.method, request.url.path)
    return error_response(500, "InternalError", f"the server failed on {request.method} {request.url.path}")


def install(app: FastAPI) -> None:
    app.add_exception_handler(errors.DuctworkError, _ductwork_error)
    app.add_exception_handler(RequestValidationError, _request_invalid)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
