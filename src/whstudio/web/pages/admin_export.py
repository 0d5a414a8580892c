"""Admin: export downloads (forms over the export API, which does the work)."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse

from whstudio.domain import tasks as tasks_domain
from whstudio.domain.users import Principal
from whstudio.web.deps import Conn, require
from whstudio.web.policies import ADMIN
from whstudio.web.templating import page

router = APIRouter(tags=["pages"], include_in_schema=False)

Admin = Annotated[Principal, Depends(require(ADMIN))]


@router.get("/admin/export")
async def export_page(request: Request, user: Admin, conn: Conn):
    overview = await tasks_domain.overview(conn)
    datasets = [d["source_dataset"] for d in overview["datasets"] if d["source_dataset"]]
    return page(request, "admin_export.html", {"datasets": datasets}, user=user)


@router.get("/admin/export/{kind}")
async def export_download(
    request: Request, kind: Literal["preferences", "responses", "quality"], user: Admin
):
    """Send the form's choices on to the export API, leaving out the ones left empty ('All')."""
    chosen = [(k, v) for k, v in request.query_params.multi_items() if v != ""]
    return RedirectResponse(f"/api/export/{kind}?{urlencode(chosen)}", status_code=303)
