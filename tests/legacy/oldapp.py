"""A stand-in for the old application: its queries, as prepared statements of its driver."""

from __future__ import annotations

import json
import uuid

import psycopg

INSERT_TASK = (
    "INSERT INTO tasks (creator_id, title, description, instructions, task_type, reward_amount,"
    " max_submissions, status) VALUES (%s, %s, 'd', %s, %s, 0.1, 3, 'active') RETURNING id"
)
UPDATE_TASK = "UPDATE tasks SET instructions = %s WHERE id = %s"
READ_TASK = "SELECT id, title, instructions, task_type, status, updated_at FROM tasks WHERE id = %s"
INSERT_SUBMISSION = (
    "INSERT INTO submissions (task_id, user_id, submitter_nullifier, submission_data)"
    " VALUES (%s, %s, %s, %s) RETURNING id"
)
UPDATE_SUBMISSION = "UPDATE submissions SET submission_data = %s WHERE id = %s"
READ_SUBMISSION = (
    "SELECT id, task_id, user_id, submission_data, status, updated_at"
    " FROM submissions WHERE id = %s"
)


class OldApp:
    """One connection whose statements are prepared on first use, as node-postgres does."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(url, autocommit=True, prepare_threshold=0)

    def close(self) -> None:
        self.conn.close()

    def one(self, query: str, params) -> tuple:
        return self.conn.execute(query, params, prepare=True).fetchone()

    def insert_task(
        self, creator: uuid.UUID, instructions: str, task_type="pairwise_ab"
    ) -> uuid.UUID:
        return self.one(INSERT_TASK, (creator, "Old app task", instructions, task_type))[0]

    def update_task(self, task: uuid.UUID, instructions: str) -> None:
        self.conn.execute(UPDATE_TASK, (instructions, task), prepare=True)

    def read_task(self, task: uuid.UUID) -> tuple:
        return self.one(READ_TASK, (task,))

    def insert_submission(self, task, user, nullifier, data: dict) -> uuid.UUID:
        return self.one(INSERT_SUBMISSION, (task, user, nullifier, json.dumps(data)))[0]

    def update_submission(self, submission, data: dict) -> None:
        self.conn.execute(UPDATE_SUBMISSION, (json.dumps(data), submission), prepare=True)

    def read_submission(self, submission) -> tuple:
        return self.one(READ_SUBMISSION, (submission,))

    def exercise(self, creator, user, nullifier) -> dict:
        """Run every statement once; return what was written."""
        doc = {"type": "pairwise_ab", "prompt": f"p {uuid.uuid4()}", "optionA": "x"}
        doc.update(optionB="y", gold="A")
        task = self.insert_task(creator, json.dumps(doc))
        self.update_task(task, json.dumps({**doc, "gold": "B"}))
        sub = self.insert_submission(
            task, user, nullifier, {"chosen_response": "A", "confidence": 2}
        )
        self.update_submission(sub, {"chosen_response": "B", "confidence": 5})
        assert self.read_task(task)[0] == task
        assert self.read_submission(sub)[3] == {"chosen_response": "B", "confidence": 5}
        return {"task": task, "submission": sub}
