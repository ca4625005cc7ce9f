"""The API's documentation behind the same token rule as the rest, with nothing from a CDN.

``GET /openapi.json`` is the OpenAPI document; ``GET /docs`` is one self-contained HTML page:
Swagger UI's script and style sheet (shipped by the ``fastapi-offline`` package, read from the
installed package) and the OpenAPI document inline. It needs no other request, so it works
air-gapped and saved as a file (``curl -H "Authorization: Bearer ..." .../docs > api.html``).
"""

import json
from functools import cache
from html import escape
from importlib.resources import files
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ledger.api.auth import Reader

router = APIRouter(include_in_schema=False)


@cache
def _asset(name: str) -> str:
    return (files("fastapi_offline") / "static" / name).read_text(encoding="utf-8")


def _inline_json(doc: Any) -> str:
    """JSON safe inside a ``<script>`` element (no ``</script>`` can close it early)."""
    return (
        json.dumps(doc, ensure_ascii=False)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


@router.get("/openapi.json")
def openapi(request: Request, _: Reader) -> dict[str, Any]:
    doc: dict[str, Any] = request.app.openapi()
    return doc


@router.get("/docs", response_class=HTMLResponse)
def docs(request: Request, _: Reader) -> HTMLResponse:
    title = escape(f"{request.app.title} — API")
    page = (
        '<!doctype html><html><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{_asset('swagger-ui.css')}</style></head><body>"
        '<div id="swagger-ui"></div>'
        f"<script>{_asset('swagger-ui-bundle.js')}</script>"
        f"<script>const spec = {_inline_json(request.app.openapi())};\n"
        'SwaggerUIBundle({spec, dom_id: "#swagger-ui", deepLinking: true,'
        " presets: [SwaggerUIBundle.presets.apis], layout: 'BaseLayout'});</script>"
        "</body></html>"
    )
    return HTMLResponse(page)
