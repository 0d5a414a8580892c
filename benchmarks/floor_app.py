"""The smallest web services that do what pgbench's script does: the floor under POST /submit.

Each one answers `POST /answers` with a JSON body by inserting one row (the same INSERT the
sustained-submit benchmark gives pgbench) and answering 201 with the new row's id, served by
uvicorn like the app. `benchmarks/submit_floor.py` measures them beside pgbench, to say what
share of pgbench's rate any Python web service can reach on this machine before it does any of
the app's work. Built from the environment (FLOOR_DATABASE_URL) by uvicorn's factory option:

- `http_only`: plain ASGI, parses the JSON body, answers; no database;
- `raw_insert`: plain ASGI plus the INSERT through a psycopg_pool connection;
- `fastapi_insert`: FastAPI with a Pydantic body model, the pool connection a dependency, the
  INSERT, and a response model: the app's own stack with none of its work;
- `raw_batched` and `fastapi_batched`: the same two with group commit: the rows of concurrent
  requests go into one INSERT (one transaction), and each request is answered once the batch
  holding its row has committed. What batching the writes would open up.
"""

import asyncio
import json
import os
from contextlib import asynccontextmanager
from typing import Annotated, Literal
from uuid import UUID

from psycopg_pool import AsyncConnectionPool

from benchmarks.common import PGBENCH_TABLE as TABLE
from whstudio.web.app import telemetry_options

INSERT = (
    f"INSERT INTO {TABLE} (task_id, user_id, chosen_response, confidence)"
    " VALUES (%s, %s, %s, %s) RETURNING id"
)
BATCH_INSERT = (
    f"INSERT INTO {TABLE} (task_id, user_id, chosen_response, confidence)"
    " SELECT t, u, c, n FROM unnest(%s::uuid[], %s::uuid[], %s::text[], %s::int2[])"
    " WITH ORDINALITY AS r(t, u, c, n, i) ORDER BY i RETURNING id"
)
POOL_SIZE = 10
BATCH_MAX = 256
FLUSHERS = 2


class GroupCommit:
    """Rows from concurrent requests written together: a request queues its row and waits;
    `FLUSHERS` tasks each take what has queued (up to BATCH_MAX rows), insert it with one
    statement in one transaction, and hand every request its id once that has committed. Rows
    queue while a flush is in flight, so batches grow with the load and no timer is needed."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool
        self.pending: list[tuple[tuple, asyncio.Future]] = []
        self.wake = asyncio.Event()
        self.tasks = [asyncio.create_task(self._flush()) for _ in range(FLUSHERS)]

    async def insert(self, row: tuple) -> int:
        future = asyncio.get_running_loop().create_future()
        self.pending.append((row, future))
        self.wake.set()
        return await future

    async def _flush(self) -> None:
        while True:
            if not self.pending:
                self.wake.clear()
                await self.wake.wait()
                continue
            batch, self.pending = self.pending[:BATCH_MAX], self.pending[BATCH_MAX:]
            columns = [list(column) for column in zip(*(row for row, _ in batch), strict=True)]
            try:
                async with self.pool.connection() as conn:
                    cur = await conn.execute(BATCH_INSERT, columns)
                    # ids come from the sequence in the SELECT's order (ORDER BY i)
                    ids = sorted(r[0] for r in await cur.fetchall())
            except Exception as exc:  # every request of the batch fails, none is acknowledged
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), new_id in zip(batch, ids, strict=True):
                if not future.done():
                    future.set_result(new_id)

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


def _pool() -> AsyncConnectionPool:
    return AsyncConnectionPool(
        os.environ["FLOOR_DATABASE_URL"],
        min_size=POOL_SIZE,
        max_size=POOL_SIZE,
        kwargs={"autocommit": True},
        open=False,
    )


async def _read_body(receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _answer(send, status: int, payload: dict) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _plain(with_database: bool, batched: bool = False):
    """A plain ASGI app; with_database: the INSERT (batched: by group commit), else only the
    parsing and the answer."""
    state: dict = {}

    async def app(scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    if with_database:
                        state["pool"] = _pool()
                        await state["pool"].open(wait=True)
                        if batched:
                            state["group"] = GroupCommit(state["pool"])
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if "group" in state:
                        await state["group"].close()
                    if "pool" in state:
                        await state["pool"].close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        if scope["method"] != "POST" or scope["path"] != "/answers":
            await _answer(send, 404, {"detail": "not found"})
            return
        try:
            data = json.loads(await _read_body(receive))
            row = (
                UUID(data["task_id"]),
                UUID(data["user_id"]),
                str(data["chosen_response"]),
                int(data["confidence"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            await _answer(send, 422, {"detail": str(exc)})
            return
        if not with_database:
            await _answer(send, 201, {"id": 0})
            return
        if batched:
            new_id = await state["group"].insert(row)
        else:
            async with state["pool"].connection() as conn:
                cur = await conn.execute(INSERT, row)
                (new_id,) = await cur.fetchone()
        await _answer(send, 201, {"id": new_id})

    return app


def http_only():
    return _plain(with_database=False)


def raw_insert():
    return _plain(with_database=True)


def raw_batched():
    return _plain(with_database=True, batched=True)


def fastapi_insert():
    return _fastapi(batched=False)


def fastapi_batched():
    return _fastapi(batched=True)


def _fastapi(batched: bool):
    from fastapi import Depends, FastAPI, Request
    from psycopg import AsyncConnection
    from pydantic import BaseModel, Field

    class Answer(BaseModel):
        task_id: UUID
        user_id: UUID
        chosen_response: Literal["A", "B", "tie"]
        confidence: int = Field(ge=1, le=5)

    class Stored(BaseModel):
        id: int

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.pool = _pool()
        await app.state.pool.open(wait=True)
        app.state.group = GroupCommit(app.state.pool) if batched else None
        yield
        if app.state.group is not None:
            await app.state.group.close()
        await app.state.pool.close()

    async def connection(request: Request):
        async with request.app.state.pool.connection() as conn:
            yield conn

    def group(request: Request) -> GroupCommit:
        return request.app.state.group

    # As the app does by default: FastAPI's own OpenTelemetry off (the floor is the leanest
    # FastAPI service, so it pays for no more than the app).
    app = FastAPI(lifespan=lifespan, **telemetry_options(False))

    if batched:

        @app.post("/answers", status_code=201, response_model=Stored)
        async def answer_batched(body: Answer, writer: Annotated[GroupCommit, Depends(group)]):
            row = (body.task_id, body.user_id, body.chosen_response, body.confidence)
            return Stored(id=await writer.insert(row))

    else:

        @app.post("/answers", status_code=201, response_model=Stored)
        async def answer(body: Answer, conn: Annotated[AsyncConnection, Depends(connection)]):
            cur = await conn.execute(
                INSERT, (body.task_id, body.user_id, body.chosen_response, body.confidence)
            )
            (new_id,) = await cur.fetchone()
            return Stored(id=new_id)

    return app
