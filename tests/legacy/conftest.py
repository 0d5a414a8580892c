"""Legacy databases for the migration tests: generated into fresh empty databases."""

from __future__ import annotations

import pytest

from whstudio.legacy.generate import generate


@pytest.fixture
def make_legacy(make_db):
    """Factory: an empty database filled by the legacy generator; returns its URL."""

    def factory(tasks: int = 300, submissions: int = 400, **kw) -> str:
        url = make_db(migrated=False)
        generate(url, tasks=tasks, submissions=submissions, **kw)
        return url

    return factory


@pytest.fixture
def legacy_url(make_legacy) -> str:
    return make_legacy()


@pytest.fixture(scope="session")
def reference_url(server_url: str, template_db: str) -> str:
    """A fresh install at head (the test template) for expand to compare with."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(server_url)
    params["dbname"] = template_db
    return make_conninfo(**params)
