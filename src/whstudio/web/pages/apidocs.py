"""The API documentation page (/docs): Swagger UI from the fastapi-offline package, so it works
without internet and under the same Content-Security-Policy as every page (no inline script)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from whstudio.web.templating import CONTENT_SECURITY_POLICY

router = APIRouter(tags=["pages"], include_in_schema=False)

_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>WorldHuman Studio API</title>
  <link rel="icon" href="/static/favicon.svg">
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
  <script src="/docs/assets/swagger-ui-bundle.js" defer></script>
  <script src="/static/apidocs.js" defer></script>
</head>
<body>
  <p><a href="/">WorldHuman Studio</a> · API documentation ·
    <a href="/openapi.json">openapi.json</a></p>
  <div id="swagger-ui"></div>
</body>
</html>
"""


@router.get("/docs")
async def api_docs() -> HTMLResponse:
    """The API documentation (anyone: it describes the API, which states who may call what)."""
    return HTMLResponse(_PAGE, headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY})
