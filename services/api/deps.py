"""Typed dependencies: routes read like prose (``tenant: Tenant``, ``store: Store``)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from services.core.errors import Unauthorized
from services.core.job_store import JobStore
from services.core.settings import Settings

PUBLIC_TENANT = "public"

# These are ``async def`` although they never await: FastAPI runs a plain ``def``
# dependency in the thread pool, a hop that cost ~0.1 ms of CPU each, three per request
# (bench/). None of them does I/O, so they run on the event loop.


async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


async def get_store_dep(request: Request) -> JobStore:
    return request.app.state.store


async def get_tenant(request: Request) -> str:
    keys: dict[str, str] = request.app.state.tenants_by_key
    if not keys:
        return PUBLIC_TENANT
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized(
            "Send your API key as 'Authorization: Bearer <key>'.",
            code="missing_api_key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    tenant = None
    # Compare against every key in constant time so timing reveals neither key nor count.
    for key, owner in keys.items():
        if hmac.compare_digest(key.encode(), token.encode()):
            tenant = owner
    if tenant is None:
        raise Unauthorized("The API key is not valid; check it or ask for a new one.", code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})
    return tenant


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
Store = Annotated[JobStore, Depends(get_store_dep)]
Tenant = Annotated[str, Depends(get_tenant)]
