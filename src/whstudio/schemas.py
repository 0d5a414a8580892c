"""Pydantic models shared by the API and the CLI: the seed plan's contract and our additions.

`Question`, `TaskResponse` and `ConsensusResult` are the plan's TypeScript interfaces; fields the
plan does not have are optional, so a client written against the plan still validates.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StringConstraints
from pydantic_core import PydanticCustomError

QuestionType = Literal["pairwise_ab", "ranking", "text_generation", "voice_transcription"]
Role = Literal["annotator", "reviewer", "admin"]
TaskStatus = Literal["draft", "active", "paused", "completed", "cancelled"]
Choice = Literal["A", "B", "tie"]

MAX_PROMPT_CHARS = 100_000
MAX_OPTION_CHARS = 100_000
MAX_EXPLANATION_CHARS = 5_000
MAX_TIME_SPENT_SECONDS = 86_400


def _not_true_or_false(value: Any) -> Any:
    if isinstance(value, bool):
        raise PydanticCustomError("number_type", "must be a number, not true or false")
    return value


# Numbers and yes/no in request bodies as JSON types them: pydantic alone would read true and
# false as 1 and 0, and 0, 1, "yes" or "off" as booleans, accepting what the schema refuses.
# (Numbers written as text stay accepted: the admin pages' forms send them so.)
Int = Annotated[int, BeforeValidator(_not_true_or_false)]
Float = Annotated[float, BeforeValidator(_not_true_or_false)]
Bool = StrictBool


def _a_time_not_a_number(value: Any) -> Any:
    if isinstance(value, int | float) or (
        isinstance(value, str) and re.fullmatch(r"\s*[+-]?(\d+\.?\d*|\.\d+)\s*", value)
    ):
        raise PydanticCustomError(
            "datetime_type", "must be a date and time like 2026-01-31T12:00:00Z"
        )
    return value


# A date and time written as ISO 8601 text; pydantic alone reads a number as seconds since 1970.
IsoTime = Annotated[datetime, BeforeValidator(_a_time_not_a_number)]

Username = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$", strip_whitespace=True)
]
NonEmpty = Annotated[str, StringConstraints(min_length=1, max_length=MAX_PROMPT_CHARS)]


class QuestionContent(BaseModel):
    """What a question asks. `gold_standard` is present only for reviewers and admins."""

    model_config = ConfigDict(extra="forbid")

    prompt: Annotated[str, StringConstraints(min_length=1, max_length=MAX_PROMPT_CHARS)]
    optionA: Annotated[str, StringConstraints(max_length=MAX_OPTION_CHARS)] | None = None
    optionB: Annotated[str, StringConstraints(max_length=MAX_OPTION_CHARS)] | None = None
    options: list[Annotated[str, StringConstraints(max_length=MAX_OPTION_CHARS)]] | None = Field(
        default=None, min_length=2, max_length=20, description="ranking: the items to order"
    )
    audio_url: Annotated[str, StringConstraints(min_length=1, max_length=2000)] | None = Field(
        default=None, description="voice_transcription: the recording to transcribe"
    )
    gold_standard: Any | None = None


class Question(BaseModel):
    """The plan's `Question`, plus version and gold fields."""

    id: UUID
    question_type: QuestionType
    content: QuestionContent
    source_dataset: str | None
    version: int = 1
    lineage_id: UUID | None = None
    source_ref: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class TaskResponse(BaseModel):
    """The plan's `TaskResponse`: one annotator's answer to one task, in canonical A/B order."""

    model_config = ConfigDict(extra="forbid")

    chosen_response: Choice | None = Field(
        default=None, description="pairwise_ab: 'A', 'B', or 'tie' where the task allows it"
    )
    confidence: Int = Field(ge=1, le=5, description="1 (guessing) to 5 (certain)")
    explanation: str | None = Field(default=None, max_length=MAX_EXPLANATION_CHARS)
    time_spent_seconds: Int = Field(ge=0, le=MAX_TIME_SPENT_SECONDS)
    ranking: list[Int] | None = Field(
        default=None, max_length=20, description="ranking: option indexes, best first"
    )
    text: str | None = Field(
        default=None, max_length=MAX_PROMPT_CHARS, description="text_generation"
    )
    transcript: str | None = Field(
        default=None, max_length=MAX_PROMPT_CHARS, description="voice_transcription"
    )
    reasons: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] | None = Field(
        default=None,
        min_length=1,
        max_length=20,
        description="the criteria of the dataset's guidelines this answer rests on "
        "(helpfulness, accuracy, ...), each one of them",
    )


class FinalAnswer(BaseModel):
    chosen_response: Choice | None = None
    ranking: list[int] | None = None
    transcript: str | None = None


class ConsensusResult(BaseModel):
    """The plan's `ConsensusResult`."""

    consensus_reached: bool
    agreement_percentage: float
    final_answer: FinalAnswer | None
    total_responses: int


UserKind = Literal["person", "model"]
GroupName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,39}$")]


class UserPublic(BaseModel):
    id: UUID
    username: str
    display_name: str | None
    role: Role
    is_active: bool
    reputation_score: int
    created_at: datetime
    kind: UserKind = Field(
        default="person", description="person, or model: an LLM judge whose verdicts were imported"
    )
    groups: list[str] = Field(
        default_factory=list, description="groups by which agreement is sliced (expert, ...)"
    )


class UserGroupsChange(BaseModel):
    """An account's groups (replaced whole) and kind; a field left out stays as it is."""

    model_config = ConfigDict(extra="forbid")

    groups: list[GroupName] | None = Field(default=None, max_length=16)
    kind: UserKind | None = None


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Username
    password: Annotated[str, StringConstraints(min_length=8, max_length=1000)]
    role: Role = "annotator"
    display_name: Annotated[str, StringConstraints(max_length=200)] | None = None


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]


class TokenPublic(BaseModel):
    id: UUID
    name: str
    token_prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenPublic):
    token: str = Field(description="shown once; keep it secret")


class ImportIssue(BaseModel):
    line: int
    reason: str


class ImportReport(BaseModel):
    source: str
    rows: int = 0
    questions_created: int = 0
    questions_existing: int = 0
    tasks_created: int = 0
    tasks_existing: int = 0
    failed: list[ImportIssue] = Field(default_factory=list)
    # Rows understood but left out on purpose (a pair whose two answers are the same text).
    skipped: list[ImportIssue] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


class ErrorBody(BaseModel):
    """Every error the API returns has this shape."""

    error: str
    message: str
    field: str | None = None
    details: list[dict[str, Any]] | None = None


class TaskItemCreate(BaseModel):
    """One question and its task, for bulk creation by admins."""

    model_config = ConfigDict(extra="forbid")

    question_type: QuestionType
    content: dict[str, Any]
    gold_standard: Any | None = None
    source_dataset: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    source_ref: Annotated[str, StringConstraints(max_length=200)] | None = None
    source_key: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = Field(
        default=None,
        description="the item's identity in its source (e.g. model pair and turn): items with "
        "the same content but different keys get a task each, and the same key finds its task "
        "again; the item's metadata is kept on that task",
    )
    metadata: dict[str, Any] | None = None
    title: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = None
    description: Annotated[str, StringConstraints(max_length=10_000)] | None = None
    consensus_threshold: Int = Field(default=3, ge=1, le=10_000)
    min_agreement_percentage: Float = Field(default=70.0, gt=0, le=100)
    allow_tie: Bool = False
    count_model_votes: Bool = Field(
        default=False, description="model judges' answers count in consensus as people's do"
    )
    priority: Int = Field(default=3, ge=1, le=5)
    expires_at: datetime | None = None
    new_task: Bool = Field(default=False, description="add a task even if the question has one")


class TasksCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[TaskItemCreate] = Field(min_length=1, max_length=5_000)


class RuleChange(BaseModel):
    """A change to a task's consensus rule or scheduling; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    consensus_threshold: Int | None = Field(default=None, ge=1, le=10_000)
    min_agreement_percentage: Float | None = Field(default=None, gt=0, le=100)
    allow_tie: Bool | None = None
    count_model_votes: Bool | None = Field(
        default=None, description="whether model judges' answers count in consensus"
    )
    priority: Int | None = Field(default=None, ge=1, le=5)
    expires_at: datetime | None = None


class TaskFilter(BaseModel):
    """Which tasks a bulk change applies to; every field given must hold."""

    model_config = ConfigDict(extra="forbid")

    dataset: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    question_type: QuestionType | None = None
    status: Literal["draft", "active", "paused", "completed", "cancelled"] | None = None
    task_ids: list[UUID] | None = Field(default=None, min_length=1, max_length=10_000)
    metadata: (
        dict[
            Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_]{1,64}$")],
            str | int | float | bool,
        ]
        | None
    ) = Field(
        default=None,
        max_length=10,
        description='item metadata that must match, e.g. {"turn": 1, "model_a": "gpt-4"}',
    )
    all: Bool = Field(default=False, description="no filter: every task (must be said)")


class BulkRuleChange(BaseModel):
    """One rule change for every task a filter picks; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    filter: TaskFilter
    consensus_threshold: Int | None = Field(default=None, ge=1, le=10_000)
    min_agreement_percentage: Float | None = Field(default=None, gt=0, le=100)
    allow_tie: Bool | None = None
    count_model_votes: Bool | None = None
    priority: Int | None = Field(default=None, ge=1, le=5)


class SkipRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(min_length=1, max_length=500, strip_whitespace=True)]


class SubmitResult(BaseModel):
    submission_id: UUID
    task_id: UUID
    response_version: int
    replayed: bool
    counted: bool = Field(
        description="false when the answer was given after its author could see others' "
        "answers to the task: it is kept and shown to reviewers, and the earlier answer counts"
    )
    consensus: dict[str, Any] | None = Field(
        description="the task's consensus, or null while its dataset's reveal policy hides "
        "others' answers from the caller"
    )


class TaskPage(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None
    total: int | None
