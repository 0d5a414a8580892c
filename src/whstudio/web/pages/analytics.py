"""Admin analytics: live consensus monitoring and charts (Plotly, from the `plotly` package),
each figure also as JSON."""

from __future__ import annotations

from importlib import resources
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import FileResponse, JSONResponse

from whstudio.domain.users import Principal
from whstudio.web.deps import require
from whstudio.web.disconnects import run_while_connected
from whstudio.web.policies import ADMIN, ANYONE_SIGNED_IN
from whstudio.web.templating import CONTENT_SECURITY_POLICY, page

router = APIRouter(tags=["pages"], include_in_schema=False)

Admin = Annotated[Principal, Depends(require(ADMIN))]
SignedIn = Annotated[Principal, Depends(require(ANYONE_SIGNED_IN))]
Days = Annotated[int, Query(ge=1, le=366)]
Fresh = Annotated[
    bool,
    Query(description="compute the figures now rather than serve them up to analytics_max_age old"),
]
# Plotly sets inline styles on the elements it draws; scripts stay our own files only.
CHARTS_POLICY = CONTENT_SECURITY_POLICY.replace(
    "style-src 'self'", "style-src 'self' 'unsafe-inline'"
)


async def _figures(request: Request, days: int, fresh: bool) -> dict:
    """The figures, computation stopped if the client goes away first: a computation of this
    request's own (`fresh`, or figures cheap enough to compute each time), not one the cache
    shares with others or runs in the background, which goes on and is kept."""
    return await run_while_connected(request, request.app.state.analytics.get, days, fresh=fresh)


@router.get("/admin/analytics")
async def analytics_page(request: Request, user: Admin, days: Days = 30, fresh: Fresh = False):
    figures = jsonable_encoder(await _figures(request, days, fresh))
    response = page(request, "analytics.html", {"figures": figures}, user=user)
    response.headers["Content-Security-Policy"] = CHARTS_POLICY
    return response


@router.get("/admin/analytics.json")
async def analytics_json(request: Request, user: Admin, days: Days = 30, fresh: Fresh = False):
    """Every figure of the page; `computed_at`, `age_seconds` and `cached` say how fresh (see
    the setting analytics_max_age)."""
    figures = await _figures(request, days, fresh)
    return JSONResponse(jsonable_encoder(figures))


@router.get("/vendor/plotly.min.js")
async def plotly_script(user: SignedIn):
    """The Plotly library the `plotly` Python package ships, served as it is."""
    path = resources.files("plotly") / "package_data" / "plotly.min.js"
    return FileResponse(
        str(path),
        media_type="text/javascript",
        headers={"Cache-Control": "private, max-age=86400"},
    )
