"""Routes answered in front of FastAPI: the same answers and errors as through its router."""

from __future__ import annotations

import logging

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from agorakit.server.direct import DirectRoutes
from agorakit.server.errors import APIError


async def fallback(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
    await PlainTextResponse("the router", status_code=405)(scope, receive, send)  # type: ignore[arg-type]


async def broken(request: Request) -> Response:
    raise KeyError("choices")


async def refused(request: Request) -> Response:
    raise APIError(404, "no entry named 'x'", kind="not_found", hint="GET /v1/models")


def client() -> httpx.AsyncClient:
    app = DirectRoutes(fallback, {("POST", "/broken"): broken, ("POST", "/refused"): refused})
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_a_route_that_fails_is_a_json_500_naming_the_error_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    async with client() as http:
        with caplog.at_level(logging.ERROR, logger="agorakit.server"):
            response = await http.post("/broken")
        assert response.status_code == 500
        error = response.json()["error"]
        assert error["type"] == "server_error" and error["message"] == "the server failed: KeyError: 'choices'"
        assert "POST /broken failed" in caplog.text
        assert (await http.post("/refused")).json()["error"]["message"] == "no entry named 'x'"
        other = await http.get("/broken")  # another method: the router's answer
        assert (other.status_code, other.text) == (405, "the router")
