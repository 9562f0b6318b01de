"""Signing in to the viewer: a form that takes an API key and keeps it in an HttpOnly,
SameSite=Strict cookie scoped to ``/ui``. With auth off there is nothing to sign in to."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from agorakit.server.guard import KEY_COOKIE
from agorakit.server.viewer_pages import Pages

HOME = "/ui"
COOKIE_PATH = "/ui"


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a viewer page of this server, never another site."""
    if not target or any(ch in target for ch in "\\\r\n\t") or not target.isprintable():
        return HOME
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not (parts.path == HOME or parts.path.startswith(HOME + "/")):
        return HOME
    if parts.path.startswith(("/ui/login", "/ui/logout", "/ui/static/", "/ui/api/")):
        return HOME
    return target


def same_origin(request: Request) -> bool:
    """Whether a form was posted from this server's own pages, as the browser tells
    (``Sec-Fetch-Site``; kept as is by proxies, unlike ``Host``). Clients that do not say pass."""
    return request.headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")


def router(pages: Pages) -> APIRouter:
    routes = APIRouter(include_in_schema=False)
    settings = pages.state.settings

    @routes.get("/ui/login", response_model=None)
    def login_form(request: Request, next: str | None = None) -> Response:
        if not settings.auth:
            return RedirectResponse(pages.link(request, safe_next(next)), status_code=303)
        return pages.render(request, "login.html", next=safe_next(next), error=None)

    @routes.post("/ui/login", response_model=None)
    def login(request: Request, key: Annotated[str, Form()] = "", next: Annotated[str, Form()] = HOME) -> Response:
        target = safe_next(next)
        if not settings.auth:
            return RedirectResponse(pages.link(request, target), status_code=303)
        if not same_origin(request):  # another site posting its key here would sign the browser in as it
            return pages.render(request, "login.html", status=403, next=target, error="Sign in from this page.")
        key = key.strip()
        keys = pages.state.keys
        if not key or keys is None or keys.lookup(key) is None:
            error = "That key is not valid (unknown or revoked)." if key else "Enter an API key."
            return pages.render(request, "login.html", status=401, next=target, error=error)
        response = RedirectResponse(pages.link(request, target), status_code=303)
        response.set_cookie(
            KEY_COOKIE,
            key,
            path=COOKIE_PATH,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    @routes.post("/ui/logout", response_model=None)
    def logout(request: Request) -> Response:
        response = RedirectResponse(pages.link(request, "/ui/login"), status_code=303)
        response.delete_cookie(KEY_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")
        return response

    return routes
