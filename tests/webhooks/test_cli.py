"""`whstudio webhooks` as subprocesses: register, list, deliver what is due, read the log."""

from __future__ import annotations

import json
import time

import psycopg

from tests.cli.conftest import whstudio  # noqa: F401
from whstudio.domain import webhooks


def test_add_list_work_once_and_deliveries(whstudio, db_url, receiver):  # noqa: F811
    env = {"DATABASE_URL": db_url, "WHSTUDIO_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1"}
    added = whstudio("webhooks", "add", receiver.url, "--event", "task.adjudicated", env=env)
    assert added.code == 0, added.err
    secret = added.out.strip().splitlines()[-1]
    assert secret.startswith("whsec_")
    listed = whstudio("webhooks", "list", env={**env, "COLUMNS": "250"})
    assert receiver.url in listed.out and "task.adjudicated" in listed.out
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("SELECT webhook_enqueue_v1('task.adjudicated', '{\"task_id\": \"t\"}')")
    worked = whstudio("webhooks", "work", "--once", env=env)
    assert worked.code == 0 and "1 delivery attempts" in worked.out, worked.err
    (got,) = receiver.received
    assert webhooks.verify(
        secret, got.headers["X-WHStudio-Signature"], got.body, now=int(time.time())
    )
    printed = whstudio("webhooks", "deliveries", env=env).out
    log = [json.loads(line) for line in printed.splitlines()]
    assert log[0]["status"] == "delivered" and log[0]["attempts"] == 1


def test_bad_input_is_one_clear_line(whstudio, db_url):  # noqa: F811
    env = {"DATABASE_URL": db_url}
    bad = whstudio("webhooks", "add", "ftp://x.org/", "--event", "task.adjudicated", env=env)
    assert bad.code == 1 and "url" in bad.err and "Traceback" not in bad.err
    bad = whstudio("webhooks", "add", "http://x.org/", "--event", "task.deleted", env=env)
    assert bad.code == 1 and "unknown event" in bad.err
    bad = whstudio("webhooks", "add", "http://127.1:5432/", "--event", "task.adjudicated", env=env)
    assert bad.code == 1 and "127.0.0.1, a loopback address" in bad.err
    assert whstudio("webhooks", "remove", "nope", env=env).code == 1
