"""Admin: import questions from an uploaded file, with a validation report before committing."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile

from whstudio.domain import importing
from whstudio.domain.users import Principal
from whstudio.errors import InvalidInput
from whstudio.web.deps import Conn, require
from whstudio.web.policies import ADMIN
from whstudio.web.templating import page

router = APIRouter(tags=["pages"], include_in_schema=False)

Admin = Annotated[Principal, Depends(require(ADMIN))]
PREVIEW_ROWS = 20
TIE_CHOICES = {"": None, "yes": True, "no": False}


class FormError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def normalize(text: str) -> str:
    """Return the text with every line break as \\n: browsers send hidden fields back with \\r\\n,
    so the checked and the committed text are compared in this form."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def digest(text: str, filename: str) -> str:
    return hashlib.sha256(f"{filename}\n{text}".encode()).hexdigest()


def rule_from_form(threshold: str, min_agreement: str, allow_tie: str) -> dict:
    """Return the consensus rule of the imported tasks, or raise FormError naming the field."""
    try:
        answers = int(threshold)
    except ValueError:
        raise FormError("threshold", "Answers needed must be a whole number.") from None
    if not 1 <= answers <= 10_000:
        raise FormError("threshold", "Answers needed must be between 1 and 10000.")
    try:
        agreement = float(min_agreement)
    except ValueError:
        raise FormError("min_agreement", "Minimum agreement must be a number.") from None
    if not 0 < agreement <= 100:
        raise FormError("min_agreement", "Minimum agreement must be above 0 and at most 100.")
    if allow_tie not in TIE_CHOICES:
        raise FormError("allow_tie", "Ties must be 'as the file says', 'yes' or 'no'.")
    return {
        "consensus_threshold": answers,
        "min_agreement_percentage": agreement,
        "allow_tie": TIE_CHOICES[allow_tie],
    }


TYPES = {
    "pairwise_ab": "A/B comparison",
    "ranking": "Ranking",
    "text_generation": "Writing",
    "voice_transcription": "Transcription",
}


def _form_values(**values: str) -> dict[str, str]:
    defaults = {
        "dataset": "",
        "threshold": "3",
        "min_agreement": "70",
        "allow_tie": "",
        "question_type": "pairwise_ab",
        "mapping": "",
    }
    return {**defaults, **{k: v for k, v in values.items() if v is not None}}


def _check_dataset(dataset: str) -> str:
    name = dataset.strip()
    if len(name) > 200:
        raise FormError("dataset", "The dataset name must be at most 200 characters.")
    return name


@router.get("/admin/import")
async def import_form(request: Request, user: Admin):
    return page(
        request, "admin_import.html", {"form": _form_values(), "stage": "upload"}, user=user
    )


@router.post("/admin/import")
async def import_check(
    request: Request,
    user: Admin,
    file: Annotated[UploadFile | None, File()] = None,
    dataset: Annotated[str, Form(max_length=1000)] = "",
    threshold: Annotated[str, Form(max_length=20)] = "3",
    min_agreement: Annotated[str, Form(max_length=20)] = "70",
    allow_tie: Annotated[str, Form(max_length=10)] = "",
    question_type: Annotated[str, Form(max_length=30)] = "pairwise_ab",
    mapping: Annotated[str, Form(max_length=2000)] = "",
):
    """Parse the uploaded file and show what an import would do; nothing is stored."""
    form = _form_values(
        dataset=dataset,
        threshold=threshold,
        min_agreement=min_agreement,
        allow_tie=allow_tie,
        question_type=question_type,
        mapping=mapping,
    )

    def refuse(field: str, message: str):
        context = {"form": form, "stage": "upload", "error": message, "error_field": field}
        return page(request, "admin_import.html", context, user=user, status_code=422)

    try:
        rule_from_form(threshold, min_agreement, allow_tie)
        _check_dataset(dataset)
    except FormError as exc:
        return refuse(exc.field, exc.message)
    if file is None or not file.filename:
        return refuse("file", "Choose a .jsonl, .csv or .json file to import.")
    raw = await file.read()
    try:
        text = normalize(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        return refuse("file", "The file is not UTF-8 text.")
    if not text.strip():
        return refuse("file", "The file is empty.")
    if question_type not in TYPES:
        return refuse("question_type", "Choose the type of the file's questions.")
    if _general(question_type, mapping):
        try:
            checked = _check_general(text, file.filename, question_type, mapping)
        except InvalidInput as exc:
            return refuse("mapping", f"Column mapping: {exc.message}")
        name = dataset.strip() or file.filename.rsplit("/", 1)[-1].rsplit(".", 1)[0] or "import"
        form["dataset"] = name
        context = {
            "form": form,
            "stage": "check",
            "filename": file.filename,
            "text": text,
            "digest": digest(text, file.filename),
            "rows": checked.rows,
            "good": len(checked.items),
            "distinct": len(checked.items),
            "failed": checked.failed,
            "skipped": checked.skipped,
            "repeats": [],
            "preview": [
                {"line": item.lines[0], "prompt": item.content.get("prompt", ""), "gold": item.gold}
                for item in checked.items[:PREVIEW_ROWS]
            ],
        }
        return page(request, "admin_import.html", context, user=user)
    parsed = importing.parse_text(text, file.filename)
    merged = importing.merge_duplicates(parsed.items)
    name = dataset.strip() or (importing.MTBENCH_DATASET if parsed.mtbench else "")
    if not name:
        name = file.filename.rsplit("/", 1)[-1].rsplit(".", 1)[0] or "import"
    form["dataset"] = name
    context = {
        "form": form,
        "stage": "check",
        "filename": file.filename,
        "text": text,
        "digest": digest(text, file.filename),
        "rows": parsed.rows,
        "good": len(parsed.items),
        "distinct": len(merged),
        "failed": parsed.failed,
        "skipped": parsed.checked.skipped,
        "repeats": [m for m in merged if len(m.lines) > 1],
        "preview": parsed.items[:PREVIEW_ROWS],
    }
    return page(request, "admin_import.html", context, user=user)


def _general(question_type: str, mapping: str) -> bool:
    """Whether a file goes through the general items pipeline (any type, a column mapping)
    rather than the pairwise one (with its repeated-pair folding and MT-Bench layout)."""
    return question_type != "pairwise_ab" or bool(mapping.strip())


def _check_general(text: str, filename: str, question_type: str, mapping: str):
    lines = [line.strip() for line in mapping.replace(",", "\n").splitlines() if line.strip()]
    return importing.check_file(text.encode(), filename, question_type=question_type, mapping=lines)


@router.post("/admin/import/commit")
async def import_commit(
    request: Request,
    user: Admin,
    conn: Conn,
    text: Annotated[str, Form(max_length=2 * 1024 * 1024)],
    filename: Annotated[str, Form(min_length=1, max_length=500)],
    checked: Annotated[str, Form(min_length=64, max_length=64)],
    dataset: Annotated[str, Form(max_length=1000)] = "",
    threshold: Annotated[str, Form(max_length=20)] = "3",
    min_agreement: Annotated[str, Form(max_length=20)] = "70",
    allow_tie: Annotated[str, Form(max_length=10)] = "",
    question_type: Annotated[str, Form(max_length=30)] = "pairwise_ab",
    mapping: Annotated[str, Form(max_length=2000)] = "",
):
    """Store the checked file: one question and task per distinct item."""
    form = _form_values(
        dataset=dataset,
        threshold=threshold,
        min_agreement=min_agreement,
        allow_tie=allow_tie,
        question_type=question_type,
        mapping=mapping,
    )
    text = normalize(text)
    try:
        rule = rule_from_form(threshold, min_agreement, allow_tie)
        name = _check_dataset(dataset)
        if not name:
            raise FormError("dataset", "Name the dataset.")
        if digest(text, filename) != checked:
            raise FormError("file", "The file changed after it was checked; check it again.")
    except FormError as exc:
        context = {"form": form, "stage": "upload", "error": exc.message, "error_field": exc.field}
        return page(request, "admin_import.html", context, user=user, status_code=422)
    if question_type not in TYPES:
        question_type = "pairwise_ab"
    if _general(question_type, mapping):
        try:
            checked_items = _check_general(text, filename, question_type, mapping)
        except InvalidInput as exc:
            context = {"form": form, "stage": "upload", "error": exc.message}
            return page(request, "admin_import.html", context, user=user, status_code=422)
    else:
        checked_items = importing.parse_text(text, filename).checked
    async with conn.transaction():
        report = await importing.store(
            conn,
            checked_items,
            source=filename,
            dataset=name,
            creator_id=user.id,
            consensus_threshold=rule["consensus_threshold"],
            min_agreement_percentage=rule["min_agreement_percentage"],
            allow_tie=rule["allow_tie"],
            strict=False,
        )
    context = {"form": form, "stage": "done", "report": report, "dataset": name}
    return page(request, "admin_import.html", context, user=user)
