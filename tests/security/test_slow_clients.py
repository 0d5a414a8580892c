"""Slow clients: a request head or body that does not come in time closes its connection (with
a 408 when part of it came), and a request cut off that way gives back its database connection.
Each test runs a real `whstudio serve`, with timeouts of a second or two."""

from __future__ import annotations

import asyncio
import contextlib
import re
import select
import socket
import time

import httpx
import psycopg
from psycopg.rows import dict_row

from tests.servers import serving
from whstudio.domain import users
from whstudio.web.sessions import SESSION_COOKIE, SessionCodec

# Room for a busy machine between a timeout and the close it causes. Without the timeouts the
# connections stay open however long one waits.
MARGIN = 4.0
SECRET = "slow-clients-test-secret-key-0123456789"


def _connect(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=5)


def _read_response(sock: socket.socket) -> bytes:
    """Read one answer that has a Content-Length (enough for the small answers used here)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
    while len(body) < length:
        body += sock.recv(65536)
    return head


def _until_closed(
    socks: dict[str, socket.socket], seconds: float, trickle: tuple[str, ...] = ()
) -> dict[str, tuple[bytes, float | None]]:
    """Read every socket until the server closes it or `seconds` pass; meanwhile send one byte
    every quarter second on those named in `trickle`. Return, by name, what was read and after
    how long the socket was closed (None: still open)."""
    start = time.monotonic()
    data = {name: b"" for name in socks}
    closed: dict[str, float | None] = {name: None for name in socks}
    by_sock = {sock: name for name, sock in socks.items()}
    next_byte = start
    while any(t is None for t in closed.values()) and time.monotonic() - start < seconds:
        now = time.monotonic()
        if now >= next_byte:
            next_byte = now + 0.25
            for name in trickle:
                if closed[name] is None and not data[name]:
                    with contextlib.suppress(OSError):  # closed by the server: read below
                        socks[name].send(b"a")
        open_socks = [s for s, name in by_sock.items() if closed[name] is None]
        readable, _, _ = select.select(open_socks, [], [], 0.05)
        for sock in readable:
            name = by_sock[sock]
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if chunk:
                data[name] += chunk
            else:
                closed[name] = time.monotonic() - start
    for sock in socks.values():
        sock.close()
    return {name: (data[name], closed[name]) for name in socks}


def test_a_slow_request_head_closes_its_connection(db_url, tmp_path):
    # Two worker processes: the protocol with its timeout must reach each of them.
    env = {"WHSTUDIO_HEADER_TIMEOUT": "1", "WHSTUDIO_WORKERS": "2"}
    with serving(db_url, tmp_path, **env) as (_proc, base):
        head = b"GET /healthz HTTP/1.1\r\nHost: test\r\n"
        socks = {name: _connect(base) for name in ("idle", "half", "kept", "trickle")}
        socks["half"].sendall(head)
        socks["trickle"].sendall(head + b"X-Slow: ")
        socks["kept"].sendall(head + b"\r\n")
        assert _read_response(socks["kept"]).startswith(b"HTTP/1.1 200")
        socks["kept"].sendall(head)  # the next request on a kept-alive connection: half of it
        # A client that sends its request at once is served meanwhile.
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
        seen = _until_closed(socks, 1 + MARGIN, trickle=("trickle",))
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
    for name, (_data, closed) in seen.items():
        assert closed is not None, f"{name}: the connection is still open"
    assert seen["idle"][0] == b""  # nothing was asked: closed without an answer
    assert seen["half"][0].startswith(b"HTTP/1.1 408")
    assert seen["kept"][0].startswith(b"HTTP/1.1 408")


async def _session_cookie(url: str) -> str:
    async with await psycopg.AsyncConnection.connect(url, row_factory=dict_row) as conn:
        row = await users.create_user(conn, "slow", None)
        session = await users.start_session(
            conn, users.Principal.from_row(row), max_age=3600, user_agent=None
        )
        await conn.commit()
    return SessionCodec(SECRET, 3600).encode(session)


def _connections_in_use(base: str) -> int:
    text = httpx.get(f"{base}/metrics", timeout=5).text
    size = re.search(r"^whstudio_db_pool_size (\S+)$", text, re.M).group(1)
    available = re.search(r"^whstudio_db_pool_available (\S+)$", text, re.M).group(1)
    return round(float(size) - float(available))


def _wait_for_in_use(base: str, count: int, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    in_use = _connections_in_use(base)
    while in_use != count and time.monotonic() < deadline:
        time.sleep(0.05)
        in_use = _connections_in_use(base)
    return in_use


def test_a_slow_request_body_gets_408_and_gives_back_its_connection(db_url, tmp_path):
    cookie = asyncio.run(_session_cookie(db_url))
    env = {"WHSTUDIO_BODY_TIMEOUT": "2", "WHSTUDIO_SECRET_KEY": SECRET}
    with serving(db_url, tmp_path, **env) as (_proc, base):
        # Signing out with a session cookie and a form body: the handler holds a database
        # connection while it reads the form (for its CSRF token).
        head = (
            "POST /logout HTTP/1.1\r\nHost: test\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Cookie: {SESSION_COOKIE}={cookie}\r\nContent-Length: 10000\r\n\r\n"
        ).encode()
        socks = {name: _connect(base) for name in ("stalled", "stalled too", "trickle")}
        for sock in socks.values():
            sock.sendall(head + b"csrf_token=")
        # The test's premise: each of the three holds a connection while it waits.
        assert _wait_for_in_use(base, 3, 1.5) == 3
        # The trickle's single bytes keep it under the time allowed between two parts, not
        # under the minimum rate (1024 bytes a second by default).
        seen = _until_closed(socks, 2 + MARGIN, trickle=("trickle",))
        for name, (data, closed) in seen.items():
            assert closed is not None, f"{name}: the connection is still open"
            assert data.startswith(b"HTTP/1.1 408"), f"{name}: {data[:200]!r}"
        assert _wait_for_in_use(base, 0, 2) == 0
        assert httpx.get(f"{base}/readyz", timeout=5).status_code == 200


def test_waits_after_a_whole_body_are_not_timed():
    # A streaming answer waits on `receive` for the client to leave, for as long as it streams.
    from whstudio.web.timeouts import BodyTimeoutMiddleware

    got: list[dict] = []
    sent: list[dict] = []
    waited: list[float] = []

    async def app(scope, receive, send):
        got.append(await receive())
        await send({"type": "http.response.start", "status": 200, "headers": []})
        begun = time.monotonic()
        got.append(await receive())
        waited.append(time.monotonic() - begun)

    async def receive():
        if not got:
            return {"type": "http.request", "body": b"{}", "more_body": False}
        await asyncio.sleep(0.3)
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    middleware = BodyTimeoutMiddleware(app, timeout=0.05, min_rate=1024)
    asyncio.run(middleware({"type": "http", "headers": []}, receive, send))
    assert [m["type"] for m in got] == ["http.request", "http.disconnect"]
    assert waited[0] >= 0.25  # the client's own disconnect, not one made up on a timeout
    assert [m.get("status") for m in sent] == [200]
