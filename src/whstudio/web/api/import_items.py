"""Import of items of any type, or MT-Bench human judgments with their answers (admins).

The API twin of `whstudio import-items`: the file is checked first, every bad row is listed with
its reason, and unless `skip_bad` is set a file with any bad row stores nothing.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Query, Request, Response, UploadFile, status

from whstudio.domain import importing as items_domain
from whstudio.domain.importing import answers as answers_domain
from whstudio.domain.users import Principal
from whstudio.errors import InvalidInput
from whstudio.web.deps import Conn, require
from whstudio.web.errors import error_response, error_responses
from whstudio.web.policies import ADMIN

router = APIRouter(prefix="/api/admin", tags=["import"], responses=error_responses())

Admin = Annotated[Principal, Depends(require(ADMIN))]
PATH = "/api/admin/import-items"


async def _upload(request: Request, file: UploadFile, default_name: str) -> tuple[str, bytes]:
    """The uploaded file's name and bytes; refused past WHSTUDIO_IMPORT_MAX_BYTES, which may be
    larger than the app's general body limit (see app.IMPORT_PATHS); the CLI has no limit."""
    limit = request.app.state.settings.import_max_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise InvalidInput(
            f"the file is larger than {limit / (1024 * 1024):g} MiB; use the CLI", field="file"
        )
    return file.filename or default_name, data


@router.post(
    "/import-items",
    response_model=items_domain.ItemsReport,
    status_code=status.HTTP_201_CREATED,
    summary="Import items (JSONL, JSON, CSV or Parquet) with a column mapping, or MT-Bench "
    "judgments with their answers; check=true only validates (admin)",
    responses={
        200: {"description": "check=true: the validation report; nothing stored"},
        422: {"description": "bad rows (listed) and skip_bad not set: nothing stored"},
    },
)
async def import_items(
    request: Request,
    response: Response,
    user: Admin,
    conn: Conn,
    file: Annotated[UploadFile, File(description=".jsonl, .json, .csv or .parquet")],
    question_type: Annotated[
        Literal["pairwise_ab", "ranking", "text_generation", "voice_transcription"] | None,
        Query(
            alias="type",
            description="default: MT-Bench judgments if the file has their columns, "
            "else pairwise_ab",
        ),
    ] = None,
    mapping: Annotated[
        list[str] | None,
        Query(alias="map", max_length=20, description="FIELD=COLUMN, e.g. prompt=question"),
    ] = None,
    dataset: Annotated[
        str | None, Query(min_length=1, max_length=200, description="default: the file name")
    ] = None,
    threshold: Annotated[
        int | None,
        Query(
            ge=1,
            le=10000,
            description="default 3 for new tasks; given, also set on the "
            "file's tasks already there",
        ),
    ] = None,
    min_agreement: Annotated[
        float | None,
        Query(
            gt=0,
            le=100,
            description="default 70 for new tasks; given, also set on the "
            "file's tasks already there",
        ),
    ] = None,
    allow_tie: bool | None = None,
    check: Annotated[bool, Query(description="validate and report; store nothing")] = False,
    skip_bad: Annotated[
        bool, Query(description="store the good rows even if some are bad")
    ] = False,
    judge_prefix: Annotated[str, Query(min_length=1, max_length=50)] = "mtbench.",
    judge_kind: Annotated[
        Literal["auto", "person", "model"],
        Query(
            description="MT-Bench judgments: whether the judges are people or model judges; "
            "auto: a name like expert_12 is a person in group expert, any other a model judge"
        ),
    ] = "auto",
    count_model_votes: Annotated[
        bool | None,
        Query(description="the tasks count model judges' answers in consensus as people's"),
    ] = None,
    gold_rate: Annotated[
        float | None,
        Query(ge=0, le=1, description="share of `next` calls serving the dataset's gold first"),
    ] = None,
    keep_identical: Annotated[
        bool,
        Query(
            description="keep pairs whose two answers are the same text (else reported in "
            "`skipped` and left out)"
        ),
    ] = False,
):
    name, data = await _upload(request, file, "upload.jsonl")
    checked = items_domain.check_file(
        data,
        name,
        question_type=question_type,
        mapping=mapping or [],
        judge_prefix=judge_prefix,
        judge_kind=judge_kind,
        keep_identical=keep_identical,
    )
    dataset_name = items_domain.dataset_name(checked, name, dataset)
    if check:
        response.status_code = status.HTTP_200_OK
        return items_domain.report_of(checked, name)
    try:
        async with conn.transaction():
            return await items_domain.store(
                conn,
                checked,
                source=name,
                dataset=dataset_name,
                creator_id=user.id,
                consensus_threshold=threshold,
                min_agreement_percentage=min_agreement,
                allow_tie=allow_tie,
                count_model_votes=count_model_votes,
                gold_rate=gold_rate,
                strict=not skip_bad,
            )
    except items_domain.ImportRefused as exc:
        details = [{"field": f"row {i.line}", "reason": i.reason} for i in exc.report.failed]
        return error_response(request, 422, "invalid", exc.message, field="file", details=details)


ANSWERS_PATH = "/api/admin/import-answers"


@router.post(
    "/import-answers",
    response_model=answers_domain.AnswersReport,
    status_code=status.HTTP_201_CREATED,
    summary="Import existing answers to tasks already here (JSONL, JSON, CSV or Parquet rows of "
    "item, annotator, answer and optionally time, confidence, created_at, such as crowd-kit's "
    "task/worker/label CSV); check=true only validates (admin)",
    responses={
        200: {"description": "check=true: the validation report; nothing stored"},
        422: {"description": "bad rows (listed) and skip_bad not set: nothing stored"},
    },
)
async def import_answers(
    request: Request,
    response: Response,
    user: Admin,
    conn: Conn,
    file: Annotated[UploadFile, File(description=".jsonl, .json, .csv or .parquet")],
    dataset: Annotated[
        str | None,
        Query(min_length=1, max_length=200, description="the dataset rows' item ids are in"),
    ] = None,
    mapping: Annotated[
        list[str] | None,
        Query(alias="map", max_length=20, description="FIELD=COLUMN, e.g. annotator=worker_id"),
    ] = None,
    labels: Annotated[
        list[str] | None,
        Query(max_length=50, description="LABEL=A|B|tie: how the file's pairwise labels read"),
    ] = None,
    annotator_prefix: Annotated[str, Query(max_length=30)] = "",
    annotator_kind: Literal["person", "model"] = "person",
    group: Annotated[
        list[str] | None, Query(max_length=16, description="groups of the new annotators")
    ] = None,
    check: Annotated[bool, Query(description="validate and report; store nothing")] = False,
    skip_bad: Annotated[
        bool, Query(description="store the good rows even if some are bad")
    ] = False,
):
    name, data = await _upload(request, file, "answers.jsonl")
    checked = answers_domain.check_answers_file(data, name, mapping or [])
    label_map = answers_domain.parse_labels(labels or [])
    if check:
        response.status_code = status.HTTP_200_OK
        return answers_domain.answers_report(checked, name)
    try:
        async with conn.transaction():
            return await answers_domain.store_answers(
                conn,
                checked,
                source=name,
                dataset=dataset,
                labels=label_map,
                annotator_prefix=annotator_prefix,
                annotator_kind=annotator_kind,
                groups=group or [],
                strict=not skip_bad,
            )
    except answers_domain.AnswersRefused as exc:
        details = [{"field": f"row {i.line}", "reason": i.reason} for i in exc.report.failed]
        return error_response(request, 422, "invalid", exc.message, field="file", details=details)
