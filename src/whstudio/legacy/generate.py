"""Legacy databases of any size, with the messy shapes real deployments hold (COPY-loaded)."""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources

import psycopg

from whstudio.legacy.queries import QUERIES

BASE_TIME = datetime(2025, 1, 1, tzinfo=UTC)
_TABLE_CODE = {
    "users": 1,
    "tasks": 2,
    "submissions": 3,
    "payments": 4,
    "user_sessions": 5,
    "task_reviews": 6,
    "disputes": 7,
    "notifications": 8,
    "notification_preferences": 9,
    "notification_templates": 10,
}

# Shapes of tasks.instructions, with their share per 1000 tasks. The first is the well-formed
# MT-Bench A/B document; the rest are what the description says a real database holds.
TASK_SHAPES = (
    ("ab", 800),
    ("ab_snake_keys", 30),
    ("ab_lower_gold", 30),
    ("ab_extra_keys", 20),
    ("ab_no_gold", 20),
    ("ab_dup_same", 5),
    ("ab_dup_conflict", 5),
    ("ab_nul", 5),
    ("ab_json_string", 5),
    ("ab_json_array", 5),
    ("ab_empty", 5),
    ("ab_plain_text", 5),
    ("prose", 35),
    ("other_json", 30),
)
# Shapes of submissions.submission_data per 1000 A/B answers: the two client versions, then what
# the old submit route let through besides (it checked only chosen_response). Every shape but
# bad_choice is a vote.
SUBMISSION_SHAPES = (
    ("v1", 560),
    ("v2", 350),
    ("confidence_fraction", 30),
    ("confidence_word", 20),
    ("confidence_digits", 10),
    ("no_confidence", 10),
    ("time_text", 5),
    ("time_out_of_range", 5),
    ("bad_choice", 10),
)


def legacy_schema_sql(script: str = "schema.sql") -> str:
    """Return one of the old deployment's DDL scripts (test fixtures): the main schema, or its
    separate notifications script (`notifications.sql`)."""
    return resources.files("whstudio.legacy").joinpath(script).read_text(encoding="utf-8")


def create_schema(url: str, *, notifications: bool = True) -> None:
    """Create the legacy schema in an empty database, as the old deployment did: its main
    script, then (unless told it was never run) its notifications script."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(legacy_schema_sql())
        if notifications:
            conn.execute(legacy_schema_sql("notifications.sql"))


def row_id(table: str, i: int) -> uuid.UUID:
    """Return the deterministic id of the i-th generated row of a table."""
    return uuid.UUID(int=(_TABLE_CODE[table] << 96) | (0x4000 << 64) | i)


def _at(seconds: int) -> datetime:
    return BASE_TIME + timedelta(seconds=seconds)


def _pick(rng: random.Random, shapes: tuple[tuple[str, int], ...]) -> str:
    roll = rng.randrange(sum(w for _, w in shapes))
    for name, weight in shapes:
        if roll < weight:
            return name
        roll -= weight
    raise AssertionError("unreachable")


def ab_content(k: int) -> tuple[str, str, str, str | None]:
    """Return (prompt, optionA, optionB, gold) of the k-th distinct A/B question."""
    gold = ("A", "B", None)[k % 3]
    return (
        f"Question {k}: explain topic {k * 7919 % 1009} to a new student.",
        f"Answer one to question {k}, short and correct.",
        f"Answer two to question {k}, longer and partly wrong.",
        gold,
    )


def instructions_for(shape: str, k: int) -> tuple[str, str]:
    """Return (task_type, instructions text) of a task of the given shape built on question k."""
    prompt, a, b, gold = ab_content(k)
    doc = {"type": "pairwise_ab", "prompt": prompt, "optionA": a, "optionB": b, "gold": gold}
    if shape == "ab":
        return "pairwise_ab", json.dumps(doc)
    if shape == "ab_snake_keys":
        return "pairwise_ab", json.dumps(
            {"type": "pairwise_ab", "prompt": prompt, "option_a": a, "option_b": b, "gold": gold}
        )
    if shape == "ab_lower_gold":
        return "pairwise_ab", json.dumps({**doc, "gold": gold.lower() if gold else None})
    if shape == "ab_extra_keys":
        return "pairwise_ab", json.dumps({"category": "writing", **doc, "turn": 1})
    if shape == "ab_no_gold":
        del doc["gold"]
        return "pairwise_ab", json.dumps(doc)
    if shape == "ab_dup_same":
        return "pairwise_ab", json.dumps(doc)[:-1] + f', "prompt": {json.dumps(prompt)}}}'
    if shape == "ab_dup_conflict":
        other = "A" if gold == "B" else "B"
        return "pairwise_ab", json.dumps(doc)[:-1] + f', "gold": "{other}"}}'
    if shape == "ab_nul":
        return "pairwise_ab", json.dumps({**doc, "prompt": prompt + "\u0000"})
    if shape == "ab_json_string":
        return "pairwise_ab", json.dumps(f"{prompt} A: {a} B: {b}")
    if shape == "ab_json_array":
        return "pairwise_ab", json.dumps([prompt, a, b])
    if shape == "ab_empty":
        return "pairwise_ab", ""
    if shape == "ab_plain_text":
        return "pairwise_ab", f"Compare the two answers to: {prompt}"
    if shape == "prose":
        return "data_entry", f"Copy the table on page {k} into the form. Check totals twice."
    if shape == "other_json":
        return "transcription", json.dumps(
            {"audio_url": f"https://cdn.example.org/audio/{k}.mp3", "language": "en", "k": k}
        )
    raise ValueError(shape)


def submission_for(shape: str, pairwise: bool, k: int, rng: random.Random) -> dict:
    """Return a submission_data document in one of the client versions' formats."""
    if not pairwise:
        return {
            "audio_url": f"https://cdn.example.org/audio/{k}.mp3",
            "duration_seconds": rng.randint(1, 90),
            "transcript": f"words of clip {k}",
        }
    choice = rng.choice("AB")
    if shape == "v1":
        return {
            "chosen_response": choice,
            "confidence": rng.randint(1, 5),
            "time_spent_seconds": rng.randint(5, 600),
        }
    if shape == "v2":
        return {
            "response_a": f"text a {k}",
            "response_b": f"text b {k}",
            "chosen_response": choice.lower(),
            "rating_reasons": ["accuracy"],
            "confidence_score": rng.randint(1, 5),
            "additional_comments": f"note {k}",
        }
    if shape == "confidence_fraction":
        return {"chosen_response": choice, "confidence": rng.choice((0.8, 0.95, 0.5, 0.3)),
                "time_spent_seconds": rng.randint(5, 600)}  # fmt: skip
    if shape == "confidence_word":
        word = rng.choice(("high", "Medium", "low", "very_high", "HIGH "))
        return {"chosen_response": choice.lower(), "confidence": word, "time_spent_seconds": 12}
    if shape == "confidence_digits":
        return {"chosen_response": choice, "confidence": str(rng.randint(1, 5))}
    if shape == "no_confidence":
        return {"chosen_response": choice, "time_spent_seconds": rng.randint(5, 600)}
    if shape == "time_text":
        return {"chosen_response": choice, "confidence": 3, "time_spent_seconds": "35"}
    if shape == "time_out_of_range":
        return {"chosen_response": choice, "confidence": 4,
                "time_spent_seconds": rng.choice((-3, 100_000, 12.5))}  # fmt: skip
    return {"chosen_response": "C", "confidence": 3, "time_spent_seconds": 20}


@dataclass
class Generated:
    """How many rows of each table a run wrote, and what shapes went into tasks/submissions."""

    rows: dict[str, int] = field(default_factory=dict)
    task_shapes: dict[str, int] = field(default_factory=dict)
    submission_shapes: dict[str, int] = field(default_factory=dict)


def generate(
    url: str,
    *,
    tasks: int,
    submissions: int,
    users: int | None = None,
    distinct_questions: int | None = None,
    seed: int = 0,
    notifications: bool = True,
) -> Generated:
    """Fill an empty legacy database (schema created here) with the given numbers of rows;
    `notifications=False` for a deployment that never ran its notifications script."""
    rng = random.Random(seed)
    n_users = users or max(60, tasks // 10)
    per_task = -(-submissions // tasks) if tasks else 0
    if submissions and n_users <= per_task:
        raise ValueError(f"users: need more than {per_task} users for {submissions} submissions")
    n_questions = distinct_questions or max(10, tasks // 20)
    out = Generated()
    create_schema(url, notifications=notifications)
    with psycopg.connect(url) as conn:
        categories = [r[0] for r in conn.execute(QUERIES["generate.categories"])]
        nullifiers = [f"0x{(i * 2654435761) % (1 << 61):016x}{i:08x}" for i in range(n_users)]
        with conn.cursor().copy(QUERIES["generate.copy_users"]) as cp:
            for i in range(n_users):
                name = "system" if i == 0 else f"user_{i}"
                if i % 23 == 5:
                    name = None  # usernames were optional
                elif i % 31 == 7:
                    name = f"Jane Doe {i}"  # and free-form
                cp.write_row(
                    (
                        row_id("users", i),
                        f"world_{i}",
                        nullifiers[i],
                        "orb" if i % 3 else "device",
                        f"0x{i:040x}" if i % 4 else None,
                        name,
                        f"https://img.example.org/{i}.png" if i % 5 == 0 else None,
                        "I label data." if i % 7 == 0 else None,
                        (i * 37) % 1000,
                        f"{(i * 13) % 500}.12345678",
                        i % 50 != 49,
                        _at(i),
                        _at(i + 60),
                    )
                )
        out.rows["users"] = n_users

        task_kind: list[bool] = []  # whether task i is an A/B task (its submissions' format)
        with conn.cursor().copy(QUERIES["generate.copy_tasks"]) as cp:
            for i in range(tasks):
                # The first tasks take every shape once, so that even a tiny database has them all.
                shape = TASK_SHAPES[i][0] if i < len(TASK_SHAPES) else _pick(rng, TASK_SHAPES)
                out.task_shapes[shape] = out.task_shapes.get(shape, 0) + 1
                k = rng.randrange(n_questions)
                task_type, text = instructions_for(shape, k)
                pairwise = task_type == "pairwise_ab"
                task_kind.append(pairwise)
                title = f"A/B Preference – MTBench #{k}" if pairwise else f"Task {i}"
                cp.write_row(
                    (
                        row_id("tasks", i),
                        row_id("users", 0 if pairwise else i % n_users),
                        categories[i % len(categories)],
                        title,
                        f"Task {i} description",
                        text,
                        task_type,
                        1 + i % 5,
                        1 + i % 30,
                        "0.10000000" if pairwise else f"{1 + i % 9}.5",
                        "WLD",
                        3 if pairwise else 1 + i % 4,
                        True,
                        json.dumps({"min_quality": 3}) if i % 11 == 0 else None,
                        [f"https://cdn.example.org/{i}.pdf"] if i % 13 == 0 else None,
                        "active" if pairwise else ("draft", "paused", "completed")[i % 3],
                        1 + i % 5,
                        _at(10**7 + i) if i % 2 else None,
                        _at(i),
                        _at(i),
                    )
                )
        out.rows["tasks"] = tasks

        with conn.cursor().copy(QUERIES["generate.copy_submissions"]) as cp:
            for s in range(submissions):
                t, j = s % tasks, s // tasks
                u = (t * 7 + j + 1) % n_users
                if not task_kind[t]:
                    shape = "other"
                elif s < len(SUBMISSION_SHAPES):
                    shape = SUBMISSION_SHAPES[s][0]
                else:
                    shape = _pick(rng, SUBMISSION_SHAPES)
                out.submission_shapes[shape] = out.submission_shapes.get(shape, 0) + 1
                data = submission_for(shape, task_kind[t], t, rng)
                reviewed = s % 9 == 0
                cp.write_row(
                    (
                        row_id("submissions", s),
                        row_id("tasks", t),
                        row_id("users", u),
                        nullifiers[u],
                        json.dumps(data),
                        None,
                        1 + s % 20,
                        f"{(s % 50) / 10:.2f}" if reviewed else None,
                        "approved" if reviewed else "pending",
                        row_id("users", 0) if reviewed else None,
                        "fine" if reviewed else None,
                        _at(2 * 10**6 + s) if reviewed else None,
                        reviewed and s % 2 == 0,
                        _at(10**6 + s),
                        _at(10**6 + s),
                    )
                )
        out.rows["submissions"] = submissions
        _other_tables(conn, out, n_users, tasks, submissions)
        if notifications:
            _notification_tables(conn, out, n_users, submissions)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(QUERIES["common.analyze"])
    return out


# Every answer shape docs/legacy-schema.md names, as the old deployment's clients sent them: the
# two client versions, confidence as a fraction, a word or missing, time spent as a string, and
# one choice nobody can read (the only one the migration may quarantine).
MTBENCH_ANSWERS = (
    lambda t: {"chosen_response": "A", "confidence": 4, "time_spent_seconds": 35},
    lambda t: {"response_a": t["optionA"], "response_b": t["optionB"], "chosen_response": "a",
               "rating_reasons": ["accuracy"], "confidence_score": 3,
               "additional_comments": "A is correct and shorter."},
    lambda t: {"chosen_response": "B", "confidence": 0.8, "time_spent_seconds": 20},
    lambda t: {"chosen_response": "b", "confidence": 0.95},
    lambda t: {"chosen_response": "A", "confidence": "high", "time_spent_seconds": 48},
    lambda t: {"chosen_response": "B"},
    lambda t: {"chosen_response": "A", "confidence": 2, "time_spent_seconds": "35"},
    lambda t: {"chosen_response": "maybe", "confidence": 3},
)  # fmt: skip


def mtbench_deployment(url: str, *, notifications: bool = True, tasks: int = 60) -> dict:
    """Fill an empty database as the old deployment held the MT-Bench sample: its own DDL
    scripts (with their seed rows), a system user who created the A/B tasks, annotators, and
    three answers per task in every shape its clients wrote. Returns what was written."""
    rows = json.loads(
        resources.files("whstudio.data").joinpath("mtbench_sample.json").read_text("utf-8")
    )
    # one task per distinct pair, as the deployment created them
    distinct = {(r["prompt"], r["optionA"], r["optionB"]): r for r in reversed(rows)}
    sample = sorted(distinct.values(), key=lambda r: (r["id"], r["prompt"]))[:tasks]
    create_schema(url, notifications=notifications)
    answers: list[dict] = []
    with psycopg.connect(url) as conn:
        users = [
            conn.execute(
                QUERIES["generate.add_user"],
                (f"world_{i}", f"0xnull{i:04d}", "system" if i == 0 else f"annotator_{i}"),
            ).fetchone()
            for i in range(13)
        ]
        for k, item in enumerate(sample):
            doc = {"type": "pairwise_ab", "prompt": item["prompt"], "optionA": item["optionA"],
                   "optionB": item["optionB"], "gold": item["gold"]}  # fmt: skip
            (task,) = conn.execute(
                QUERIES["generate.add_task"],
                (users[0][0], f"A/B Preference – MTBench #{item['id']}",
                 "Which answer is better?", json.dumps(doc)),
            ).fetchone()  # fmt: skip
            for j in range(3):
                user, nullifier = users[1 + (k + 4 * j) % 12]
                data = MTBENCH_ANSWERS[(3 * k + j) % len(MTBENCH_ANSWERS)](item)
                conn.execute(
                    QUERIES["generate.add_submission"], (task, user, nullifier, json.dumps(data))
                )
                answers.append(data)
    return {"tasks": len(sample), "answers": answers}


def repair_quarantined(url: str) -> None:
    """Correct every quarantined row through the old path, as an operator would before
    contract (the generated bad shapes have no right answer to recover; these are plausible)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(QUERIES["generate.repair_tasks"])
        conn.execute(QUERIES["generate.repair_submissions"])


def _other_tables(
    conn: psycopg.Connection, out: Generated, n_users: int, tasks: int, submissions: int
) -> None:
    def copy(table: str, rows) -> None:
        n = 0
        with conn.cursor().copy(QUERIES[f"generate.copy_{table}"]) as cp:
            for row in rows:
                cp.write_row(row)
                n += 1
        out.rows[table] = n

    copy(
        "payments",
        (
            (
                row_id("payments", p),
                row_id("tasks", s % tasks),
                row_id("submissions", s),
                row_id("users", 0),
                row_id("users", (s % tasks * 7 + s // tasks + 1) % n_users),
                "0.10000000",
                "WLD",
                f"0x{p:064x}",
                1000 + p,
                "0.00001000",
                "completed" if p % 5 else "pending",
                json.dumps({"chain": 480}),
                _at(3 * 10**6 + p) if p % 5 else None,
                _at(3 * 10**6 + p),
            )
            for p, s in enumerate(range(0, submissions, 10))
        ),
    )
    copy(
        "user_sessions",
        (
            (
                row_id("user_sessions", i),
                row_id("users", u),
                f"tok_{u:012d}",
                f"10.0.{u % 256}.{u % 250 + 1}",
                "Mozilla/5.0",
                _at(5 * 10**7 + u),
                _at(u),
            )
            for i, u in enumerate(range(0, n_users, 5))
        ),
    )
    copy(
        "task_reviews",
        (
            (
                row_id("task_reviews", i),
                row_id("tasks", t),
                row_id("users", 1 + t % (n_users - 1)),
                1 + t % 5,
                "clear" if t % 2 else None,
                _at(t),
            )
            for i, t in enumerate(range(0, tasks, 20))
        ),
    )
    copy(
        "disputes",
        (
            (
                row_id("disputes", i),
                row_id("submissions", s),
                row_id("users", (s % tasks * 7 + s // tasks + 1) % n_users),
                "unfair rejection",
                "open",
                _at(s),
            )
            for i, s in enumerate(range(3, submissions, 100))
        ),
    )


def _notification_tables(
    conn: psycopg.Connection, out: Generated, n_users: int, submissions: int
) -> None:
    """The notifications script's tables: its trigger gave every user a preferences row and it
    seeded the templates itself; the deployment then sent notifications and users changed
    some preferences."""
    with conn.cursor().copy(QUERIES["generate.copy_notifications"]) as cp:
        n = max(submissions // 10, 10)
        for i in range(n):
            cp.write_row(
                (
                    row_id("notifications", i),
                    row_id("users", i % n_users),
                    "task_available",
                    "New task",
                    f"Task {i} is open",
                    json.dumps({"n": i}) if i % 2 else None,
                    i % 3 == 0,
                    _at(i),
                )
            )
    out.rows["notifications"] = n
    conn.execute(QUERIES["generate.opt_out_of_email"], (_at(10),))
    for table in ("notification_preferences", "notification_templates"):
        out.rows[table] = conn.execute(QUERIES[f"generate.count_{table}"]).fetchone()[0]
