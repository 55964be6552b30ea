"""One JSON shape for every error the API returns: ``{"error": CODE, "message": ..., ...}``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from promptloop.exceptions import ConflictError, NotFoundError


class APIError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": code, "message": message, **extra}


def _field(loc: tuple[int | str, ...] | list[int | str]) -> str:
    return ".".join(str(part) for part in loc if part not in ("query", "body", "path")) or "body"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError) -> JSONResponse:
        headers = {"Retry-After": "1"} if exc.status in (429, 503) else None
        return JSONResponse(
            error_body(exc.code, exc.message, **exc.extra), status_code=exc.status, headers=headers
        )

    @app.exception_handler(NotFoundError)
    async def _not_found(_: Request, exc: NotFoundError) -> JSONResponse:
        return JSONResponse(error_body("not_found", str(exc)), status_code=404)

    @app.exception_handler(ConflictError)
    async def _conflict(_: Request, exc: ConflictError) -> JSONResponse:
        return JSONResponse(error_body("conflict", str(exc)), status_code=409)

    @app.exception_handler(ValueError)
    async def _invalid_value(_: Request, exc: ValueError) -> JSONResponse:
        # Domain checks (names, semver, rationale) raise ValueError with a message naming
        # what is wrong; pydantic's ValidationError is a ValueError too.
        if isinstance(exc, ValidationError):
            errors = [
                {"field": _field(detail["loc"]), "reason": detail["msg"]}
                for detail in exc.errors(include_url=False)
            ]
            message = "; ".join(f"{e['field']}: {e['reason']}" for e in errors)
            return JSONResponse(
                error_body("invalid_request", message, errors=errors), status_code=422
            )
        return JSONResponse(error_body("invalid_request", str(exc)), status_code=422)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _field(detail["loc"]), "reason": detail["msg"]} for detail in exc.errors()
        ]
        message = "; ".join(f"{e['field']}: {e['reason']}" for e in errors)
        return JSONResponse(error_body("invalid_request", message, errors=errors), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = "not_found" if exc.status_code == 404 else "http_error"
        return JSONResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )
