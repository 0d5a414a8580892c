"""An annotator's dashboard: reputation and its history, gold accuracy with its interval,
agreement, speed, and answers with their quality marks."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request

from whstudio.domain import quality, visibility
from whstudio.domain.users import Principal
from whstudio.errors import Forbidden
from whstudio.web.deps import Conn, require
from whstudio.web.policies import ANYONE_SIGNED_IN, STAFF
from whstudio.web.templating import page

router = APIRouter(tags=["pages"], include_in_schema=False)

SignedIn = Annotated[Principal, Depends(require(ANYONE_SIGNED_IN))]
HISTORY = 100
ANSWERS = 50
CHART_WIDTH, CHART_HEIGHT, CHART_PAD = 600, 160, 8


def history_chart(events: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Return the reputation history as SVG polyline points (oldest first), or None when
    there are fewer than two points."""
    scores = [e["score"] for e in reversed(events) if e.get("score") is not None]
    if len(scores) < 2:
        return None
    low, high = min(scores), max(scores)
    span = (high - low) or 1
    step = (CHART_WIDTH - 2 * CHART_PAD) / (len(scores) - 1)
    height = CHART_HEIGHT - 2 * CHART_PAD
    points = " ".join(
        f"{CHART_PAD + i * step:.1f},{CHART_PAD + height - (s - low) / span * height:.1f}"
        for i, s in enumerate(scores)
    )
    return {
        "points": points,
        "low": low,
        "high": high,
        "first": scores[0],
        "last": scores[-1],
        "count": len(scores),
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
    }


async def _dashboard(
    request: Request, conn, user: Principal, whose_name: str | None, cursor: str | None = None
):
    staff = user.role in STAFF
    if whose_name is not None and whose_name != user.username and not staff:
        raise Forbidden("only reviewers and admins may see another annotator's dashboard")
    whose = (
        user.id
        if whose_name in (None, user.username)
        else await quality.resolve_user(conn, whose_name)
    )
    rep = await quality.reputation(conn, whose, history=HISTORY, staff=staff)
    before = quality.parse_cursor(cursor) if cursor else None
    answers = await quality.answers(conn, whose, limit=ANSWERS, before=before, staff=staff)
    context = {
        "rep": rep,
        "answers": visibility.answers_as_shown(answers["items"], whose),
        "chart": history_chart(rep["history"]),
        "own": whose == user.id,
        "staff": staff,
        "next_cursor": answers["next_cursor"],
        "paged": cursor is not None,
        "base_path": request.url.path,
    }
    return page(request, "dashboard.html", context, user=user)


Cursor = Annotated[str | None, Query(max_length=200)]


@router.get("/dashboard")
async def my_dashboard(request: Request, user: SignedIn, conn: Conn, cursor: Cursor = None):
    return await _dashboard(request, conn, user, None, cursor)


@router.get("/dashboard/{username}")
async def someones_dashboard(
    request: Request,
    user: SignedIn,
    conn: Conn,
    username: Annotated[str, Path(min_length=1, max_length=64)],
    cursor: Cursor = None,
):
    return await _dashboard(request, conn, user, username, cursor)
