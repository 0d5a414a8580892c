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
