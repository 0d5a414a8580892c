"""The start page after signing in."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from whstudio.domain import highlight
from whstudio.domain import tasks as tasks_domain
from whstudio.domain.users import Principal
from whstudio.web.deps import Conn, require
from whstudio.web.policies import ANYONE_SIGNED_IN
from whstudio.web.templating import page

router = APIRouter(tags=["pages"], include_in_schema=False)


@router.get("/")
async def home(
    request: Request, conn: Conn, user: Annotated[Principal, Depends(require(ANYONE_SIGNED_IN))]
):
    overview = await tasks_domain.overview(conn)
    return page(request, "home.html", overview, user=user)


@router.get("/assets/code.css")
async def code_colours() -> Response:
    """The colours of highlighted code (anyone: a stylesheet, generated from Pygments)."""
    return Response(
        highlight.stylesheet(),
        media_type="text/css",
        headers={"Cache-Control": "public, max-age=86400"},
    )
