"""Every route states who may call it."""

from __future__ import annotations

from fastapi.routing import APIRoute

from whstudio.web.app import ROUTERS
from whstudio.web.policies import PUBLIC_ROUTES


def _roles(dependant) -> set[frozenset]:
    found = set()
    call = getattr(dependant, "call", None)
    if call is not None and hasattr(call, "roles"):
        found.add(call.roles)
    for sub in dependant.dependencies:
        found |= _roles(sub)
    return found


def test_every_route_declares_its_roles_or_is_public():
    undeclared = []
    for router in ROUTERS:
        for route in router.routes:
            if not isinstance(route, APIRoute):
                continue
            if route.path in PUBLIC_ROUTES or route.path in ("/logout",):
                continue
            if not _roles(route.dependant):
                undeclared.append(f"{sorted(route.methods)} {route.path}")
    assert undeclared == []


def test_api_summaries_name_who_may_call():
    for router in ROUTERS:
        for route in router.routes:
            if isinstance(route, APIRoute) and route.include_in_schema:
                assert route.summary and route.summary.rstrip().endswith(")"), route.path
