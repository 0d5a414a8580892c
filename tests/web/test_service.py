"""Health, readiness, metrics, request ids, and the shape of errors."""

from __future__ import annotations

import httpx
import psycopg

from whstudio.settings import Settings
from whstudio.web.app import create_app


async def test_healthz_and_readyz_report_ok(env):
    assert (await env.client.get("/healthz")).json() == {"status": "ok"}
    ready = await env.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


async def test_readyz_is_503_while_the_schema_is_behind(env):
    with psycopg.connect(env.url, autocommit=True) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'old'")
    ready = await env.client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["status"] == "migrating"


async def test_an_unreachable_database_gives_503_with_retry_after(tmp_path):
    settings = Settings(home=tmp_path, secret_key="k" * 32, pool_timeout=1)
    app = create_app(settings, "postgresql://nobody@127.0.0.1:1/none?connect_timeout=1")
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as client:
            ready = await client.get("/readyz")
            assert ready.status_code == 503 and "retry-after" in ready.headers
            api = await client.get("/api/me", headers={"authorization": "Bearer whs_x_y"})
            assert api.status_code == 503 and api.headers["retry-after"]


async def test_metrics_count_requests_by_route_and_status(env):
    await env.client.get("/healthz")
    await env.client.get("/api/me")
    text = (await env.client.get("/metrics")).text
    assert 'whstudio_http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in text
    assert 'route="/api/me",status="401"' in text
    assert "whstudio_http_request_duration_seconds_bucket" in text
    assert "whstudio_db_pool_size" in text


async def test_every_response_carries_a_request_id(env):
    generated = await env.client.get("/healthz")
    assert len(generated.headers["x-request-id"]) == 32
    echoed = await env.client.get("/healthz", headers={"x-request-id": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    unsafe = await env.client.get("/healthz", headers={"x-request-id": "bad id\n"})
    assert unsafe.headers["x-request-id"] != "bad id\n"


async def test_malformed_bodies_get_422_naming_the_field(env):
    token = await env.token_for("root", "admin")
    async with env.client_with(token) as client:
        broken = await client.post(
            "/api/users", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert broken.status_code == 422 and broken.json()["error"] == "invalid"
        wrong = await client.post("/api/users", json={"username": "ok", "password": 5})
        assert wrong.status_code == 422 and wrong.json()["field"] == "password"
        extra = await client.post(
            "/api/users", json={"username": "ok", "password": "x" * 10, "is_admin": True}
        )
        assert extra.status_code == 422 and extra.json()["field"] == "is_admin"
        bad_id = await client.delete("/api/tokens/not-a-uuid")
        assert bad_id.status_code == 422 and bad_id.json()["field"] == "token_id"
        listing = await client.get("/api/users")
        assert [u["username"] for u in listing.json()] == ["root"]


async def test_oversized_bodies_get_413(env):
    token = await env.token_for("root", "admin")
    async with env.client_with(token) as client:
        big = await client.post(
            "/api/users",
            content=b"x" * (3 * 1024 * 1024),
            headers={"content-type": "application/json"},
        )
        assert big.status_code == 413


async def test_unknown_routes_get_404_json_or_a_page(env):
    api = await env.client.get("/api/nothing-here")
    assert api.status_code == 404 and api.json()["error"] == "not_found"
    page = await env.client.get("/nothing-here", headers={"accept": "text/html"})
    assert page.status_code == 404 and "404" in page.text and "<html" in page.text


async def test_the_openapi_document_and_docs_are_served(env):
    spec = (await env.client.get("/openapi.json")).json()
    assert "/api/me" in spec["paths"] and "/api/users" in spec["paths"]
    docs = await env.client.get("/docs")
    assert docs.status_code == 200 and "/docs/assets/swagger-ui-bundle.js" in docs.text
    asset = await env.client.get("/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.content) > 100_000


async def test_text_postgres_cannot_store_is_a_422_not_a_500(env):
    token = await env.token_for("root", "admin")
    async with env.client_with(token) as client:
        nul = await client.post(
            "/api/users", json={"username": "nul", "password": "x" * 10, "display_name": "a\u0000b"}
        )
        assert nul.status_code == 422
        surrogate = await client.post(
            "/api/tokens",
            content=b'{"name": "\\ud800x"}',
            headers={"content-type": "application/json"},
        )
        assert surrogate.status_code == 422
