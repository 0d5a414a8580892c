"""The answers import's replay: a file's answers taken in order, in memory, by the rules the
database's per-answer triggers apply (migrations: consensus_apply_vote, submissions_quality,
quality_settle_v1, quality_apply_row, reputation_update_v1), so that the end state written
set-based is the one submitting the same answers one by one leaves.

Step for step, for one answer: an earlier latest answer of the same annotator to the task is
revised (its vote leaves the counts, its quality row stops counting, its reputation moves);
the new answer takes the next version and its annotator's reputation weight of the moment;
its vote enters the counts (a task reaching its answer threshold settles: the answers
waiting for a verdict get it against the others); its quality row is made (gold on the first
answer, the plurality of the others once the task has its answers, fast against the others'
median time, the annotator's standing flags); the counters and the reputation move, with a
history event where a verdict was given. What depends only on the final counts (the derived
consensus fields, task_counts, webhooks of consensus reached) is left to the database.

`tests/importing/test_import_answers.py` holds this to the triggers: the same files, imported
and submitted one by one, leave equal tables.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from uuid import UUID

_SIX = Decimal("0.000001")
_TWO = Decimal("0.01")
_STANDING = ("position_bias", "same_answer", "gold_failures", "below_chance")


def db_float_to_numeric(value: float, places: Decimal = _SIX) -> Decimal:
    """`value::numeric` rounded as PostgreSQL does: 15 significant digits, then half away
    from zero to the places asked."""
    return Decimal(f"{value:.15g}").quantize(places, rounding=ROUND_HALF_UP)


@dataclass(slots=True)
class Task:
    id: UUID
    question_id: UUID
    question_type: str
    n: int | None
    status: str
    expired: bool
    count_model_votes: bool
    threshold: int
    gold: dict | None
    gold_source: str | None
    # the consensus row's counts as they move
    count_a: int = 0
    count_b: int = 0
    count_tie: int = 0
    total: int = 0
    weight_a: Decimal = Decimal(0)
    weight_b: Decimal = Decimal(0)
    weight_tie: Decimal = Decimal(0)
    confidence_sum: int = 0
    confidence_count: int = 0
    confidence_sum_a: int = 0
    confidence_sum_b: int = 0
    confidence_sum_tie: int = 0
    time_sum: int = 0
    time_count: int = 0
    ranking_counts: list[int] | None = None
    ranking_weights: list[Decimal] | None = None
    remaining: int = 0
    was_reached: bool = False
    moved: bool = False
    latest: dict[UUID, Answer] = field(default_factory=dict)  # user -> latest answer
    versions: dict[UUID, int] = field(default_factory=dict)  # user -> highest version
    first: dict[UUID, Answer] = field(default_factory=dict)  # user -> first version
    nullifiers: dict[UUID, str] = field(default_factory=dict)  # user -> latest nullifier
    waiting: list[Quality] = field(default_factory=list)  # rows a settle gives a verdict
    answers: list[Answer] = field(default_factory=list)  # the answers there before, all versions


@dataclass(slots=True)
class Answer:
    id: UUID | str  # a new answer's id is made as text
    task_id: UUID
    user_id: UUID
    version: int
    chosen: str | None
    payload: dict | None
    confidence: int | None
    time_spent: int | None
    in_consensus: bool
    vote_weight: Decimal
    is_latest: bool = True
    new: bool = False
    quality: Quality | None = None


@dataclass(slots=True)
class Quality:
    submission_id: UUID | str
    task_id: UUID
    user_id: UUID
    question_type: str
    choice: str | None
    picked_left: bool | None
    gold_correct: bool | None
    gold_source: str | None
    agreed: bool | None
    others_agreeing: int | None
    others_total: int | None
    time_spent: int | None
    reasons: list[str]
    counted: bool
    new: bool = False
    changed: bool = False
    judged_now: bool = False  # computed_at moves to the import's time


STATS_FIELDS = (
    "answers",
    "gold_answered",
    "gold_correct",
    "gold_fail_streak",
    "evaluated",
    "agreed",
    "sided",
    "picked_left",
    "picked_a",
    "picked_b",
    "timed",
    "time_sum",
    "fast",
)


@dataclass(slots=True)
class Stats:
    answers: int = 0
    gold_answered: int = 0
    gold_correct: int = 0
    gold_fail_streak: int = 0
    evaluated: int = 0
    agreed: int = 0
    sided: int = 0
    picked_left: int = 0
    picked_a: int = 0
    picked_b: int = 0
    timed: int = 0
    time_sum: int = 0
    fast: int = 0
    ds_accuracy: float | None = None
    ds_labels: int | None = None
    accuracy: float = 0.7
    accuracy_low: float = 0.0
    accuracy_high: float = 1.0
    flags: list[str] = field(default_factory=list)
    changed: bool = False


@dataclass(slots=True)
class User:
    id: UUID
    kind: str
    weight: float
    score: int
    nullifier: str | None
    last_score: int | None  # the score of the annotator's latest reputation event
    stats: Stats | None = None
    moved: bool = False
    vote_weight: Decimal | None = None  # least(weight, 100)::numeric(9, 6), kept with weight


@dataclass(slots=True)
class Event:
    user_id: UUID
    task_id: UUID
    submission_id: UUID | str
    kind: str
    delta: int
    score: int
    reason: str


def answer_matches(chosen: str | None, payload: dict | None, gold: dict | None) -> bool | None:
    """migrations' answer_matches: None where there is nothing to judge by."""
    if gold is None:
        return None
    if "chosen_response" in gold:
        want = gold["chosen_response"]
        return None if chosen is None or want is None else chosen == want
    if "ranking" in gold:
        got = None if payload is None else payload.get("ranking")
        if got is None:
            return None
        return _jsonb_equal(got, gold["ranking"])
    if "transcript" in gold:
        got = None if payload is None else payload.get("transcript")
        want = gold["transcript"]
        if not isinstance(got, str) or not isinstance(want, str):
            return None
        return " ".join(got.split()).lower() == " ".join(want.split()).lower()
    return None


def _jsonb_equal(a: Any, b: Any) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_jsonb_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float | Decimal) and isinstance(b, int | float | Decimal):
        return Decimal(str(a)) == Decimal(str(b))
    return a == b


def loo_verdict(choice: str, a: int, b: int, t: int) -> tuple[bool | None, int | None, int | None]:
    """migrations' loo_verdict: (agreed, others agreeing, others) against the others' counts."""
    a -= choice == "A"
    b -= choice == "B"
    t -= choice == "tie"
    if a < 0 or b < 0 or t < 0:
        return None, None, None
    total = a + b + t
    agreeing = a if choice == "A" else b if choice == "B" else t
    top = max(a, b, t)
    agreed = None
    if top > 0 and (a == top) + (b == top) + (t == top) == 1 and t != top:
        agreed = choice == ("A" if a == top else "B")
    return agreed, agreeing, total


def quality_reason(m: Quality) -> str | None:
    """migrations' quality_reason."""
    if m.gold_correct is not None and m.gold_source == "adjudication":
        return (
            "matched the reviewer's adjudication"
            if m.gold_correct
            else "differed from the reviewer's adjudication"
        )
    if m.gold_correct is not None:
        return "passed a gold check" if m.gold_correct else "failed a gold check"
    if m.agreed is not None:
        assert m.others_total is not None and m.others_agreeing is not None
        disagreeing = m.others_total - m.others_agreeing
        if m.agreed:
            return f"agreed with a {m.others_agreeing}–{disagreeing} consensus"
        return f"disagreed with a {disagreeing}–{m.others_agreeing} consensus"
    return None


def median(values: list[int]) -> float:
    """percentile_cont(0.5) of sorted values."""
    pos = 0.5 * (len(values) - 1)
    lo = math.floor(pos)
    hi = math.ceil(pos)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


class Replay:
    """The state the triggers would move, for the tasks and annotators a file touches."""

    def __init__(self, now: Any, ln_prior_odds: float) -> None:
        self.now = now
        # ln(7.0 / 3.0) as the database computes it (numeric, then double precision): one unit
        # in the last place away from Python's math.log(7 / 3)
        self.ln_prior_odds = ln_prior_odds
        self.tasks: dict[UUID, Task] = {}
        self.users: dict[UUID, User] = {}
        self.moved_qualities: list[Quality] = []  # existing quality rows the file moved
        self.moved_answers: list[Answer] = []  # existing answers moved in or out of consensus
        self.events: list[Event] = []
        self._ids = _Ids()
        self.nullifier_of: dict[UUID | str, str | None] = {}  # new answer -> its nullifier
        self.prior_score = self._prior_score()

    # --- reputation (migrations' reputation_of, annotator_flags, reputation_update_v1) ------

    def reputation_of(self, s: Stats) -> tuple[float, float, float, int, float]:
        succ = float(2 * s.gold_correct)
        trials = float(2 * s.gold_answered)
        if s.ds_accuracy is not None and (s.ds_labels or 0) > 0:
            succ += s.ds_accuracy * s.ds_labels
            trials += s.ds_labels
        else:
            succ += s.agreed
            trials += s.evaluated
        a = succ + 7
        b = trials - succ + 3
        accuracy = a / (a + b)
        sd = math.sqrt(a * b / (math.pow(a + b, 2) * (a + b + 1)))
        low = max(0.0, accuracy - 1.96 * sd)
        high = min(1.0, accuracy + 1.96 * sd)
        score = round(1000 * accuracy)
        weight = min(10.0, max(0.01, math.log(accuracy / (1 - accuracy)) / self.ln_prior_odds))
        return accuracy, low, high, score, weight

    def _prior_score(self) -> int:
        return self.reputation_of(Stats())[3]

    @staticmethod
    def flags(s: Stats, low: float, high: float) -> list[str]:
        out = []
        if (
            s.sided >= 20
            and abs(2 * s.picked_left - s.sided) >= 4 * math.sqrt(s.sided)
            and 5 * max(s.picked_left, s.sided - s.picked_left) >= 4 * s.sided
        ):
            out.append("position_bias")
        picked = s.picked_a + s.picked_b
        if (
            picked >= 20
            and abs(s.picked_a - s.picked_b) >= 4 * math.sqrt(picked)
            and 5 * max(s.picked_a, s.picked_b) >= 4 * picked
        ):
            out.append("same_answer")
        if s.gold_fail_streak >= 4:
            out.append("gold_failures")
        judged = s.gold_answered + s.evaluated + (s.ds_labels or 0)
        if judged >= 20 and high < 0.5:
            out.append("below_chance")
        if judged >= 30 and 0.5 <= high < 0.65:
            out.append("near_chance")
        if s.fast >= 5 and 10 * s.fast >= 3 * s.timed:
            out.append("fast")
        return out

    def reputation_update(
        self, user: User, kind: str, reason: str | None, task_id: UUID, submission_id: UUID | str
    ) -> None:
        s = user.stats
        if s is None:
            return
        accuracy, low, high, score, weight = self.reputation_of(s)
        s.accuracy, s.accuracy_low, s.accuracy_high = accuracy, low, high
        s.flags = self.flags(s, low, high)
        s.changed = True
        before = self.prior_score if user.last_score is None else user.last_score
        weight = float(db_float_to_numeric(weight))
        if (user.score, user.weight) != (score, weight):
            user.score, user.weight, user.moved = score, weight, True
            user.vote_weight = None
        if reason is not None:
            self.events.append(
                Event(user.id, task_id, submission_id, kind, score - before, score, reason)
            )
            user.last_score = score

    # --- counters (migrations' quality_apply_row and the quality rows' trigger) -------------

    def _stats(self, user: User) -> Stats:
        if user.stats is None:
            user.stats = Stats(changed=True)
        return user.stats

    def _apply_row(self, m: Quality, sign: int) -> None:
        s = self._stats(self.users[m.user_id])
        s.changed = True
        s.answers += sign
        if m.gold_correct is not None:
            s.gold_answered += sign
            s.gold_correct += sign * m.gold_correct
        if m.agreed is not None:
            s.evaluated += sign
            s.agreed += sign * m.agreed
        if m.picked_left is not None:
            s.sided += sign
            s.picked_left += sign * m.picked_left
        s.picked_a += sign * (m.choice == "A")
        s.picked_b += sign * (m.choice == "B")
        if m.time_spent is not None:
            s.timed += sign
            s.time_sum += sign * m.time_spent
        s.fast += sign * ("fast" in m.reasons)

    def _quality_inserted(self, m: Quality) -> None:
        user = self.users[m.user_id]
        if m.counted:
            self._apply_row(m, 1)
            if m.gold_correct is not None:
                s = self._stats(user)
                s.gold_fail_streak = 0 if m.gold_correct else s.gold_fail_streak + 1
        kind = (
            "revision"
            if not m.counted
            else "adjudication"
            if m.gold_source == "adjudication"
            else "gold"
            if m.gold_correct is not None
            else "agreement"
        )
        reason = quality_reason(m) if m.counted else None
        self.reputation_update(user, kind, reason, m.task_id, m.submission_id)

    def _moving(self, m: Quality) -> None:
        if not m.new and not m.changed:
            self.moved_qualities.append(m)
        m.changed = True

    def _recount(self, m: Quality, counted: bool) -> None:
        """A quality row starts or stops counting (its answer was revised, or moved in or out
        of consensus): the quality rows' trigger on UPDATE OF counted."""
        was = m.counted
        self._moving(m)
        if was:
            self._apply_row(m, -1)
        m.counted = counted
        user = self.users[m.user_id]
        if counted:
            self._apply_row(m, 1)
            if m.gold_correct is not None and not was:
                s = self._stats(user)
                s.gold_fail_streak = 0 if m.gold_correct else s.gold_fail_streak + 1
        if was == counted:
            return
        if counted:
            kind = (
                "adjudication"
                if m.gold_source == "adjudication"
                else "gold"
                if m.gold_correct is not None
                else "agreement"
            )
            reason = quality_reason(m)
        else:
            kind = "revision"
            reason = None
            if m.gold_correct is not None or m.agreed is not None:
                reason = "revised an answer: its earlier verdict no longer counts"
        self.reputation_update(user, kind, reason, m.task_id, m.submission_id)

    # --- consensus (migrations' consensus_apply_vote and quality_settle_v1) ------------------

    def _vote(self, task: Task, s: Answer, sign: int) -> None:
        w = s.vote_weight * sign
        task.total += sign
        if s.chosen == "A":
            task.count_a += sign
            task.weight_a += w
            task.confidence_sum_a += sign * (s.confidence or 0)
        elif s.chosen == "B":
            task.count_b += sign
            task.weight_b += w
            task.confidence_sum_b += sign * (s.confidence or 0)
        elif s.chosen == "tie":
            task.count_tie += sign
            task.weight_tie += w
            task.confidence_sum_tie += sign * (s.confidence or 0)
        if s.confidence is not None:
            task.confidence_sum += sign * s.confidence
            task.confidence_count += sign
        if s.time_spent is not None:
            task.time_sum += sign * s.time_spent
            task.time_count += sign
        ranking = None if s.payload is None else s.payload.get("ranking")
        if task.question_type == "ranking" and isinstance(ranking, list) and task.n:
            n = task.n
            assert task.ranking_counts is not None and task.ranking_weights is not None
            for i in range(n - 1):
                hi = int(ranking[i])
                for j in range(i + 1, n):
                    k = hi * n + int(ranking[j])
                    task.ranking_counts[k] += sign
                    task.ranking_weights[k] += w
        before = task.remaining
        task.remaining = max(task.threshold - task.total, 0)
        task.moved = True
        if before > 0 and task.remaining == 0:
            self._settle(task)

    def _settle(self, task: Task) -> None:
        for user_id in sorted(task.latest):
            self._stats(self.users[user_id])
        waiting, task.waiting = task.waiting, []
        for m in waiting:
            if not m.counted or m.others_total is not None or m.gold_correct is not None:
                continue
            assert m.choice is not None
            agreed, agreeing, total = loo_verdict(
                m.choice, task.count_a, task.count_b, task.count_tie
            )
            self._apply_row(m, -1)
            self._moving(m)
            m.agreed, m.others_agreeing, m.others_total = agreed, agreeing, total
            m.judged_now = True
            self._apply_row(m, 1)
            if agreed is not None:
                self.reputation_update(
                    self.users[m.user_id],
                    "agreement",
                    quality_reason(m),
                    task.id,
                    m.submission_id,
                )
            if total is None:
                task.waiting.append(m)  # not among the counts: a later settle may judge it

    # --- one answer ------------------------------------------------------------------------

    def change_rule(
        self, task_id: UUID, *, threshold: int | None, rebuilt: bool, count_model_votes: bool | None
    ) -> None:
        """A task's rule changed, as tasks_sync_consensus takes it: the consensus recomputed
        under the new rule (settling the task if it now has its answers), then, where model
        judges' votes start or stop counting, each of their answers moved in or out."""
        task = self.tasks[task_id]
        if rebuilt:
            before = task.remaining
            task.threshold = threshold if threshold is not None else task.threshold
            task.remaining = max(task.threshold - task.total, 0)
            task.moved = True
            if before > 0 and task.remaining == 0:
                self._settle(task)
        if count_model_votes is None or count_model_votes == task.count_model_votes:
            return
        task.count_model_votes = count_model_votes
        for a in sorted(task.answers, key=lambda a: (a.user_id, a.version)):
            if self.users[a.user_id].kind != "model" or a.in_consensus == count_model_votes:
                continue
            was = a.is_latest and a.in_consensus
            a.in_consensus = count_model_votes
            self.moved_answers.append(a)
            if a.is_latest:
                self._vote(task, a, 1 if count_model_votes else -1)
            if was != (a.is_latest and a.in_consensus) and a.quality is not None:
                self._recount(a.quality, a.is_latest and a.in_consensus)

    @staticmethod
    def _vote_weight(user: User) -> Decimal:
        if user.vote_weight is None:
            user.vote_weight = db_float_to_numeric(min(user.weight, 100.0))
        return user.vote_weight

    def refusal(self, task_id: UUID) -> str | None:
        """Why the answer path would refuse an answer to the task, if it would."""
        task = self.tasks[task_id]
        if task.status != "active":
            return f"the task is {task.status} and takes no answers"
        if task.expired:
            return "the task has expired and takes no answers"
        return None

    def submit(
        self,
        task_id: UUID,
        user_id: UUID,
        chosen: str | None,
        payload: dict | None,
        confidence: int | None,
        time_spent: int | None,
    ) -> Answer:
        """Replay one answer as submit_answer_v1 and the triggers would take it, to a task that
        takes answers (the caller asks `refusal` first)."""
        task = self.tasks[task_id]
        user = self.users[user_id]
        previous = task.latest.get(user_id)
        if previous is not None:
            previous.is_latest = False
            if previous.in_consensus:
                self._vote(task, previous, -1)
                m = previous.quality
                if m is not None and m.counted:
                    self._recount(m, False)
        version = task.versions.get(user_id, 0) + 1
        answer = Answer(
            id=self._ids.next(),
            task_id=task_id,
            user_id=user_id,
            version=version,
            chosen=chosen,
            payload=payload,
            confidence=confidence,
            time_spent=time_spent,
            in_consensus=user.kind == "person" or task.count_model_votes,
            vote_weight=self._vote_weight(user),
            new=True,
        )
        nullifier = task.nullifiers.get(user_id) or user.nullifier
        if nullifier is not None:
            task.nullifiers[user_id] = nullifier
        self.nullifier_of[answer.id] = nullifier
        task.versions[user_id] = version
        task.first.setdefault(user_id, answer)
        task.latest[user_id] = answer
        if answer.in_consensus:
            self._vote(task, answer, 1)
        answer.quality = self._quality(task, user, answer)
        self._quality_inserted(answer.quality)
        return answer

    def _quality(self, task: Task, user: User, s: Answer) -> Quality:
        reasons: list[str] = []
        if s.time_spent is not None:
            others = [
                a.time_spent
                for uid, a in sorted(task.latest.items())
                if uid != s.user_id and a.time_spent is not None
            ][:101]
            if len(others) >= 2:
                others.sort()
                if s.time_spent < 0.25 * median(others):
                    reasons.append("fast")
        verdict = answer_matches(s.chosen, s.payload, task.gold)
        if task.gold_source == "gold" and s.version > 1:
            first = task.first.get(s.user_id)
            if first is not None:
                earlier = answer_matches(first.chosen, first.payload, task.gold)
                verdict = earlier if earlier is not None else verdict
        if user.stats is not None:
            reasons += [f for f in user.stats.flags if f in _STANDING]
        agreed = agreeing = total = None
        counted = s.in_consensus  # and latest: it is the newest
        if task.gold_source is None and s.chosen is not None and task.remaining == 0 and counted:
            agreed, agreeing, total = loo_verdict(
                s.chosen, task.count_a, task.count_b, task.count_tie
            )
        m = Quality(
            submission_id=s.id,
            task_id=task.id,
            user_id=s.user_id,
            question_type=task.question_type,
            choice=s.chosen,
            picked_left=None,  # the order an imported answer was shown in is not known
            gold_correct=verdict,
            gold_source=task.gold_source if verdict is not None else None,
            agreed=agreed,
            others_agreeing=agreeing,
            others_total=total,
            time_spent=s.time_spent,
            reasons=reasons,
            counted=counted,
            new=True,
        )
        if counted and m.choice is not None and verdict is None and total is None:
            task.waiting.append(m)
        return m


class _Ids:
    """Answer ids in the order given (UUID version 7: the time, then a counter), so that the
    answers of one import sit together in the primary key and sort as they were given; as
    text, which is all COPY and the replay's own bookkeeping need of them."""

    def __init__(self) -> None:
        self.ms = int(time.time() * 1000) & ((1 << 48) - 1)
        self.counter = int.from_bytes(os.urandom(8), "big") >> 8  # 56 bits, room to count

    def next(self) -> str:
        self.counter += 1
        c = self.counter & ((1 << 74) - 1)
        value = (
            (self.ms << 80) | (0x7 << 76) | ((c >> 62) << 64) | (0b10 << 62) | (c & ((1 << 62) - 1))
        )
        h = f"{value:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
