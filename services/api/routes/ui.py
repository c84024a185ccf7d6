"""GET / and /static/*: the page to try a document, shipped in the package (no CDN,
works offline). The page talks to the public /v1 API like any other client."""

from __future__ import annotations

import html
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from services.core.errors import NotFound

router = APIRouter(include_in_schema=False)

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
_MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml"}

# Everything the page loads comes from this origin; nothing inline, nothing remote.
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@lru_cache(maxsize=1)
def _index_template() -> str:
    return (STATIC_DIR / "index.html").read_text(encoding="utf-8")


@router.get("/", response_class=HTMLResponse)
async def index(request: Request) -> HTMLResponse:
    settings = request.app.state.settings
    # The limits go into the page so it can refuse an oversized file before uploading it.
    page = (
        _index_template()
        .replace("{{max_upload_bytes}}", html.escape(str(settings.max_upload_bytes)))
        .replace("{{max_text_chars}}", html.escape(str(settings.max_text_chars)))
        .replace("{{auth_required}}", "true" if request.app.state.tenants_by_key else "false")
    )
    return HTMLResponse(page, headers={**_SECURITY_HEADERS, "Cache-Control": "no-cache"})


@router.get("/static/{name}")
async def static_file(name: str) -> FileResponse:
    media_type = _MEDIA_TYPES.get(Path(name).suffix)
    path = STATIC_DIR / name
    # Only plain files directly in static/ with a known type: no traversal, no listing.
    if media_type is None or "/" in name or "\\" in name or name.startswith(".") or not path.is_file():
        raise NotFound(f"No static file {name!r}.", details={"path": f"/static/{name}"})
    return FileResponse(path, media_type=media_type, headers={**_SECURITY_HEADERS, "Cache-Control": "no-cache"})
