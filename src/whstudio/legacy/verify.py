"""Proof of zero loss: checksums of every legacy row, coverage, JSON equal by value, consensus.

The JSON comparison parses the legacy values here, in Python, independently of the SQL that
migrated them, so that a mistake in one is not repeated by the other.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import psycopg
from psycopg import sql

from whstudio.domain.guidelines import CRITERION, MAX_CRITERIA
from whstudio.legacy import common
from whstudio.legacy.queries import QUERIES, compose

_NORMAL_KEYS = {
    "prompt": "prompt",
    "optiona": "optionA",
    "optionb": "optionB",
    "gold": "gold",
    "type": "type",
}


def checksum_differences(conn: psycopg.Connection) -> dict[str, dict[str, int]]:
    """Return, per legacy table with a difference, how many baseline rows changed or vanished and
    how many rows appeared, none of them written by anyone since the baseline. Tables absent at
    the baseline are not looked at (an appeared one stops every step before this)."""
    out: dict[str, dict[str, int]] = {}
    keys = common.legacy_keys(conn)
    for table, columns in common.legacy_columns(conn).items():
        # A table without a key is compared by whole rows: a logged row counts for every copy.
        logged = QUERIES["verify.logged_by_key" if keys[table] else "verify.logged_by_row"]
        q = compose(
            "verify.checksum_differences",
            table=sql.Literal(table),
            digests=common.digest_sql(table, columns, keys[table]),
            logged=sql.SQL(logged),
        )
        vanished, appeared, changed = conn.execute(q).fetchone()
        if vanished or appeared or changed:
            out[table] = {"vanished": vanished, "appeared": appeared, "changed": changed}
    return out


def expected_question(task_type: str, text: str) -> tuple[str, dict, Any]:
    """Return (type, content, gold) that a task's instructions stand for; raise ValueError."""
    if task_type != "pairwise_ab":
        return "text_generation", {"prompt": text}, None
    pairs = json.loads(text, object_pairs_hook=lambda kv: kv)
    if not isinstance(pairs, list) or (pairs and not isinstance(pairs[0], tuple)):
        raise ValueError("not an object")
    fields: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in pairs:
        norm = _NORMAL_KEYS.get(key.replace("_", "").lower())
        target, name = (fields, norm) if norm else (extra, key)
        if name in target and target[name] != value:
            raise ValueError(f"duplicate {key}")
        target[name] = value
    gold = fields.get("gold")
    if isinstance(gold, str):
        gold = "tie" if gold.upper() == "TIE" else gold.upper()
    content = {
        **extra,
        "prompt": fields.get("prompt"),
        "optionA": fields.get("optionA"),
        "optionB": fields.get("optionB"),
    }
    return "pairwise_ab", content, gold


_NUMBER = re.compile(r"\+?([0-9]+(\.[0-9]*)?|\.[0-9]+)")
_WORDS = {"very low": 1, "low": 2, "medium": 3, "moderate": 3, "neutral": 3, "high": 4}
_WORDS["very high"] = 5


def _number(value: Any) -> Decimal | None:
    """A JSON number, or a string of digits, as an exact decimal."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return Decimal(str(value))
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip(" ")):
        return Decimal(value.strip(" "))
    return None


def _half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def expected_confidence(value: Any) -> int | None:
    """1-5 from what a client sent: 1-5, a fraction of 1, a digit string or a word."""
    if isinstance(value, str) and not _NUMBER.fullmatch(value.strip(" ")):
        word = re.sub(r"[\s_-]+", " ", value.strip(" ").lower()).strip(" ")
        x = Decimal(_WORDS[word]) if word in _WORDS else None
    else:
        x = _number(value)
    if x is None or x < 0 or x > 5:
        return None
    return 1 + _half_up(x * 4) if x < 1 else _half_up(x)


def expected_seconds(value: Any) -> int | None:
    """Whole seconds from 0 to a day, from a number or a digit string; otherwise nothing."""
    x = _number(value)
    if x is None or x < 0 or _half_up(x) > 86400:
        return None
    return _half_up(x)


def expected_reasons(value: Any) -> list[str] | None:
    """The criteria a client sent (`rating_reasons`): names in lower case with spaces made
    '_', in their order, without repeats, empty ones or entries that are no name; at most 20."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list):
        return None
    names: list[str] = []
    for entry in value:
        if not isinstance(entry, str):
            continue
        name = re.sub(r"\s+", "_", entry.strip(" ").lower())
        if CRITERION.match(name) and name not in names and len(names) < MAX_CRITERIA:
            names.append(name)
    return names or None


def expected_answer(qtype: str, data: Any) -> dict[str, Any]:
    """Return the structured columns a submission_data document stands for (the rules of
    docs/legacy-migration.md, written here apart from the SQL that applies them)."""
    if qtype != "pairwise_ab":
        return {
            "chosen_response": None,
            "confidence": None,
            "explanation": None,
            "time_spent_seconds": None,
            "payload": {"text": json.dumps(data), "legacy": data},
            "reasons": None,
        }
    chosen = data["chosen_response"]
    if not isinstance(chosen, str) or chosen.strip(" ").upper() not in ("A", "B", "TIE"):
        raise ValueError(f"chosen_response {chosen!r}")
    chosen = chosen.strip(" ").upper()
    comments = data.get("additional_comments")
    return {
        "chosen_response": "tie" if chosen == "TIE" else chosen,
        "confidence": expected_confidence(data.get("confidence", data.get("confidence_score"))),
        "explanation": comments[:5000] if isinstance(comments, str) else None,
        "time_spent_seconds": expected_seconds(data.get("time_spent_seconds")),
        "payload": None,
        "reasons": expected_reasons(data.get("rating_reasons", data.get("reasons"))),
    }


def normalised_counts(conn: psycopg.Connection) -> dict[str, int]:
    """Rows migrated with a field read differently from the legacy document, per table."""
    return dict(conn.execute(QUERIES["verify.normalised"]))


@dataclass
class VerifyReport:
    checksums: dict[str, dict[str, int]] = field(default_factory=dict)
    unmigrated: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)
    normalised: dict[str, int] = field(default_factory=dict)
    json_mismatches: dict[str, list[str]] = field(default_factory=dict)
    consensus_drift: int = 0
    missing_consensus: int = 0
    rows_compared: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not (
            self.checksums
            or any(self.unmigrated.values())
            or any(self.json_mismatches.values())
            or self.consensus_drift
            or self.missing_consensus
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checksums": self.checksums,
            "unmigrated": self.unmigrated,
            "quarantined": self.quarantined,
            "normalised": self.normalised,
            "json_mismatches": {k: v[:20] for k, v in self.json_mismatches.items()},
            "consensus_drift": self.consensus_drift,
            "missing_consensus": self.missing_consensus,
            "rows_compared": self.rows_compared,
            "seconds": round(self.seconds, 2),
        }


def _compare_tasks(conn: psycopg.Connection, report: VerifyReport) -> None:
    bad: list[str] = []
    n = 0
    with conn.cursor(name="verify_tasks") as cur:
        cur.itersize = 5000
        cur.execute(QUERIES["verify.migrated_tasks"])
        for tid, task_type, text, qtype, content, gold in cur:
            n += 1
            try:
                etype, econtent, egold = expected_question(task_type, text)
            except (ValueError, json.JSONDecodeError) as exc:
                bad.append(f"{tid}: migrated, but its instructions do not parse ({exc})")
                continue
            # A task that names no gold agrees with any gold its question has from another task.
            if (etype, econtent) != (qtype, content) or (egold is not None and egold != gold):
                bad.append(f"{tid}: question {qtype} {content!r} gold {gold!r} differs")
    conn.commit()
    report.rows_compared["tasks"] = n
    report.json_mismatches["tasks"] = bad


def _compare_submissions(conn: psycopg.Connection, report: VerifyReport) -> None:
    bad: list[str] = []
    n = 0
    with conn.cursor(name="verify_submissions") as cur:
        cur.itersize = 5000
        cur.execute(QUERIES["verify.migrated_submissions"])
        for sid, data, qtype, chosen, conf, expl, secs, payload, reasons in cur:
            n += 1
            got = {
                "chosen_response": chosen,
                "confidence": conf,
                "explanation": expl,
                "time_spent_seconds": secs,
                "payload": payload,
                "reasons": reasons,
            }
            try:
                want = expected_answer(qtype, data)
            except (KeyError, ValueError, TypeError) as exc:
                bad.append(f"{sid}: migrated, but its submission_data does not parse ({exc})")
                continue
            if qtype != "pairwise_ab":
                # the text is the document's JSON text; compare the document by value
                want["payload"] = {"legacy": data}
                got["payload"] = {"legacy": (payload or {}).get("legacy")}
            if want != got:
                bad.append(f"{sid}: {got!r} differs from {want!r}")
    conn.commit()
    report.rows_compared["submissions"] = n
    report.json_mismatches["submissions"] = bad


def verify(url: str, *, record: bool = True) -> VerifyReport:
    """Check everything; record the step 'verified' when nothing differs."""
    started = time.time()
    report = VerifyReport()
    with common.connect(url) as conn:
        common.require(conn, ("expanded", "backfilled", "verified"), "verify")
        report.checksums = checksum_differences(conn)
        report.unmigrated["tasks"] = conn.execute(QUERIES["verify.unmigrated_tasks"]).fetchone()[0]
        report.unmigrated["submissions"] = conn.execute(
            QUERIES["verify.unmigrated_submissions"]
        ).fetchone()[0]
        report.unmigrated["consensus_queue"] = conn.execute(
            QUERIES["verify.queued_consensus"]
        ).fetchone()[0]
        report.quarantined = dict(conn.execute(QUERIES["verify.quarantined"]))
        report.normalised = normalised_counts(conn)
        report.missing_consensus = conn.execute(QUERIES["verify.missing_consensus"]).fetchone()[0]
        report.consensus_drift = conn.execute(QUERIES["verify.consensus_drift"]).fetchone()[0]
    with psycopg.connect(url) as conn:
        _compare_tasks(conn, report)
        _compare_submissions(conn, report)
    report.seconds = time.time() - started
    if record:
        with common.connect(url) as conn, conn.transaction():
            step = common.state(conn)["step"]
            if report.ok and step in ("expanded", "backfilled"):
                common.set_step(conn, "verified")
            elif not report.ok and step == "verified":
                # a pass that no longer holds: contract and switching to new wait for a new one
                common.set_step(conn, "backfilled")
            common.record(conn, "verify", started, report.ok, report.as_dict())
    return report
