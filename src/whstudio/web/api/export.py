"""Downloads of the exports: preference pairs, raw responses, annotator quality (admins)."""

from __future__ import annotations

import contextlib
import json
import tempfile
from datetime import UTC, datetime
from typing import Annotated, Literal

import anyio
import anyio.lowlevel
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from whstudio.domain import export as export_domain
from whstudio.domain.users import Principal
from whstudio.schemas import IsoTime
from whstudio.web.deps import require
from whstudio.web.disconnects import run_while_connected
from whstudio.web.errors import error_responses
from whstudio.web.policies import ADMIN

router = APIRouter(prefix="/api/export", tags=["export"], responses=error_responses())

Admin = Annotated[Principal, Depends(require(ADMIN))]
Format = Literal["jsonl", "parquet"]
_MEDIA = {"jsonl": "application/x-ndjson", "parquet": "application/vnd.apache.parquet"}
_SPOOL_BYTES = 32 * 1024 * 1024
# Seconds allowed for closing a stopped export's cursor and transaction; past them psycopg
# drops the connection instead.
_CLOSE_SECONDS = 10.0


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _headers(kind: str, fmt: str, skipped: dict[str, int] | None = None) -> dict[str, str]:
    """The download's name, and for preference pairs the tasks left out by reason (JSON in
    X-Export-Left-Out, `{}` when none): an export never leaves tasks out silently."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    headers = {"Content-Disposition": f'attachment; filename="whstudio-{kind}-{stamp}.{fmt}"'}
    if skipped is not None:
        headers["X-Export-Left-Out"] = json.dumps(skipped)
    return headers


async def _download(request: Request, kind: str, params: dict, fmt: str) -> StreamingResponse:
    """JSON Lines stream as the rows come: the query runs and its first batch is encoded before
    the answer starts (an error there is a clean error status); an error later cuts the
    download short (the chunked body has no end). Parquet, whose footer comes last, is written
    whole first (to memory, to a temporary file past 32 MB) and sent with X-Export-Rows.
    Read from the replica when there is one (WHSTUDIO_READ_DATABASE_URL)."""
    pool = request.app.state.read_pool
    pairs = kind in ("preferences", "conversations")
    if fmt == "parquet":
        spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115 (closed after the response)
        try:
            async with pool.connection() as conn, conn.transaction():
                # Written whole before the answer starts: stopped if the client goes away.
                rows = await run_while_connected(
                    request, export_domain.write, conn, kind, params, fmt, spool
                )
                skipped = await export_domain.left_out(conn, params) if pairs else None
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return StreamingResponse(
            iter(lambda: spool.read(1 << 16), b""),
            media_type=_MEDIA[fmt],
            headers={**_headers(kind, fmt, skipped), "X-Export-Rows": str(rows)},
            background=BackgroundTask(spool.close),
        )
    held = contextlib.AsyncExitStack()  # the connection and transaction the stream reads from
    try:
        conn = await held.enter_async_context(pool.connection())
        await held.enter_async_context(conn.transaction())
        skipped = await export_domain.left_out(conn, params) if pairs else None
        chunks = export_domain.jsonl_chunks(conn, kind, params)
        held.push_async_callback(chunks.aclose)
        try:  # not anext(chunks, default), which raised SystemError on an empty export (seen
            # under uvicorn and in the tests' ASGI client; CPython 3.11)
            first, _ = await chunks.__anext__()
        except StopAsyncIteration:
            first = b""
    except BaseException as exc:  # the transaction ends as it failed: rolled back
        await held.__aexit__(type(exc), exc, exc.__traceback__)
        raise

    async def body():
        # When the client goes away Starlette cancels the stream, and goes on cancelling every
        # wait of its task until the stream has ended: the closing of the cursor and of the
        # transaction was cut short again and again, and psycopg dropped the connection. So
        # the batch being read is read to its end (one batch at most) and the closing is done
        # whole, both shielded; the stream stops at the check between them (sending to a
        # closed connection does not wait, so nothing else would stop it).
        try:
            yield first
            while True:
                with anyio.CancelScope(shield=True):
                    try:
                        chunk, _ = await chunks.__anext__()
                    except StopAsyncIteration:
                        break
                await anyio.lowlevel.checkpoint_if_cancelled()
                yield chunk
        except BaseException as exc:  # cut short (the client left, an error): rolled back
            with anyio.move_on_after(_CLOSE_SECONDS, shield=True):
                await held.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        with anyio.move_on_after(_CLOSE_SECONDS, shield=True):
            await held.aclose()

    stream = body()

    async def closed() -> None:
        """After the answer, and after a disconnect too: a stream left at a `yield` is closed
        now rather than whenever it is collected, and one never started closes what it held."""
        await stream.aclose()
        await held.aclose()

    return StreamingResponse(
        stream,
        media_type=_MEDIA[fmt],
        headers=_headers(kind, fmt, skipped),
        background=BackgroundTask(closed),
    )


@router.get(
    "/preferences",
    summary="Consensus-labelled {prompt, chosen, rejected} pairs with agreement metadata, as "
    "JSONL or Parquet (admins)",
    response_class=StreamingResponse,
)
async def export_preferences(
    request: Request,
    user: Admin,
    format: Format = "jsonl",
    dataset: Annotated[str | None, Query(max_length=200)] = None,
    min_agreement: Annotated[float, Query(ge=0, le=100)] = 0.0,
    min_answers: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    since: IsoTime | None = None,
    until: IsoTime | None = None,
    include_ties: bool = False,
    method: Literal["majority", "weighted", "dawid_skene"] = "majority",
    shape: Annotated[
        Literal["plain", "conversational"],
        Query(
            description="plain: prompt, chosen and rejected as text; conversational: TRL's "
            "conversational preference format (prompt a list of messages, chosen / rejected "
            "the messages that follow on each side), with the turn"
        ),
    ] = "plain",
):
    filters = export_domain.PreferenceFilters(
        dataset=dataset,
        min_agreement=min_agreement,
        min_answers=min_answers,
        since=_utc(since),
        until=_utc(until),
        include_ties=include_ties,
        method=method,
    )
    kind = "conversations" if shape == "conversational" else "preferences"
    return await _download(request, kind, filters.params(), format)


@router.get(
    "/responses",
    summary="Every stored response, annotators anonymised by a salted hash unless revealed, as "
    "JSONL or Parquet (admins)",
    response_class=StreamingResponse,
)
async def export_responses(
    request: Request,
    user: Admin,
    format: Format = "jsonl",
    dataset: Annotated[str | None, Query(max_length=200)] = None,
    since: IsoTime | None = None,
    until: IsoTime | None = None,
    latest_only: bool = False,
    reveal_annotators: bool = False,
):
    filters = export_domain.RawFilters(
        salt=export_domain.default_salt(request.app.state.secret),
        dataset=dataset,
        since=_utc(since),
        until=_utc(until),
        latest_only=latest_only,
        reveal=reveal_annotators,
    )
    return await _download(request, "responses", filters.params(), format)


@router.get(
    "/quality",
    summary="The per-annotator quality table, anonymised unless revealed, as JSONL or Parquet "
    "(admins)",
    response_class=StreamingResponse,
)
async def export_quality(
    request: Request,
    user: Admin,
    format: Format = "jsonl",
    reveal_annotators: bool = False,
):
    filters = export_domain.RawFilters(
        salt=export_domain.default_salt(request.app.state.secret), reveal=reveal_annotators
    )
    return await _download(request, "quality", filters.params(), format)
