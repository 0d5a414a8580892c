"""Guidelines per dataset: read by anyone signed in, written by admins (a new version each)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from whstudio.domain import guidelines
from whstudio.domain.users import Principal
from whstudio.errors import NotFound
from whstudio.web.deps import Conn, require
from whstudio.web.errors import error_responses
from whstudio.web.policies import ADMIN, ANYONE_SIGNED_IN

router = APIRouter(prefix="/api", tags=["guidelines"], responses=error_responses())

SignedIn = Annotated[Principal, Depends(require(ANYONE_SIGNED_IN))]
Admin = Annotated[Principal, Depends(require(ADMIN))]
Dataset = Annotated[str, Path(min_length=1, max_length=200)]


class Guidelines(BaseModel):
    """A dataset's guidelines: Markdown, and the criteria annotators may tick."""

    model_config = ConfigDict(extra="forbid")

    body: str = Field(
        max_length=guidelines.MAX_BODY_CHARS,
        description="Markdown: what to judge and how, with examples",
    )
    criteria: list[str] = Field(
        default_factory=list,
        max_length=guidelines.MAX_CRITERIA,
        description="names annotators may tick with their answer (helpfulness, accuracy, ...)",
    )


@router.get(
    "/datasets/{dataset}/guidelines",
    summary="A dataset's guidelines in force, or one version of them (anyone signed in)",
)
async def read_guidelines(
    dataset: Dataset,
    user: SignedIn,
    conn: Conn,
    version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
):
    if version is not None:
        return await guidelines.version(conn, dataset, version)
    row = await guidelines.newest(conn, dataset)
    if row is None:
        raise NotFound(f"dataset {dataset!r} has no guidelines", field="dataset")
    return row


@router.get(
    "/admin/datasets/{dataset}/guidelines/versions",
    summary="Every version of a dataset's guidelines, newest first, without their text (admins)",
)
async def guideline_versions(dataset: Dataset, user: Admin, conn: Conn):
    return await guidelines.versions(conn, dataset)


@router.put(
    "/admin/datasets/{dataset}/guidelines",
    status_code=status.HTTP_201_CREATED,
    summary="Publish a dataset's guidelines as a new version; 200 when they equal the version "
    "in force (admins)",
    responses={200: {"description": "unchanged: the version in force is returned"}},
)
async def publish_guidelines(
    dataset: Dataset, body: Guidelines, user: Admin, conn: Conn, response: Response
):
    async with conn.transaction():
        row, made = await guidelines.publish(
            conn, dataset, body=body.body, criteria=body.criteria, created_by=user.id
        )
    if not made:
        response.status_code = status.HTTP_200_OK
    return row
