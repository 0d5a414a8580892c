"""Stage two of an import: rows -> items, each bad row with its reason. No database.

Three row rules feed the same report (`Checked`): typed items of any question type with a column
mapping, the MT-Bench human judgments (an item per question, model pair and turn, with the
answers the judges recorded), and the pairwise rows of `whstudio import`, the import page and the
demo sample. Rows that ask the same question fold into one item. What a layout means downstream
(the tasks' tie rule, the default title, how gold disagreements are reported) is in LAYOUTS.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from whstudio.domain import keyed
from whstudio.domain import questions as questions_domain
from whstudio.domain.importing.sources import Row, read_rows
from whstudio.errors import InvalidInput
from whstudio.schemas import ImportIssue

MTBENCH_DATASET = "mt_bench_human_judgments"
MAX_FIELD_CHARS = 100_000
MTBENCH_COLUMNS = frozenset(
    {"question_id", "model_a", "model_b", "winner", "judge", "conversation_a", "conversation_b"}
)
# The fields each type reads, with the column names looked for when no mapping is given.
FIELDS: dict[str, dict[str, tuple[str, ...]]] = {
    "pairwise_ab": {
        "prompt": ("prompt", "question", "instruction"),
        "optionA": ("optionA", "option_a", "response_a", "answer_a"),
        "optionB": ("optionB", "option_b", "response_b", "answer_b"),
        "gold": ("gold", "gold_standard", "label"),
        "model_a": ("model_a", "modelA"),
        "model_b": ("model_b", "modelB"),
        "id": ("id", "question_id"),
    },
    "ranking": {
        "prompt": ("prompt", "question", "instruction"),
        "options": ("options", "responses", "candidates"),
        "gold": ("gold", "gold_ranking", "ranking"),
        "id": ("id", "question_id"),
    },
    "text_generation": {
        "prompt": ("prompt", "question", "instruction"),
        "gold": ("gold", "reference", "reference_answer"),
        "id": ("id", "question_id"),
    },
    "voice_transcription": {
        "prompt": ("prompt", "instruction"),
        "audio_url": ("audio_url", "audio", "url"),
        "gold": ("gold", "transcript", "reference"),
        "id": ("id", "question_id"),
    },
}
# The pairwise files of `whstudio import` and the import page also take `winner` for the gold.
PAIR_FIELDS = {**FIELDS["pairwise_ab"], "gold": (*FIELDS["pairwise_ab"]["gold"], "winner")}
# A judgment's winner as published -> the stored answer. The two qualified ties are stored as a
# tie and keep their words as the answer's source_label: "tie (bothbad)" (a human found both
# answers bad) and "tie (inconsistent)" (a model judge contradicted itself when the two answers
# were shown the other way round).
_WINNERS = {
    "model_a": "A",
    "model_b": "B",
    "tie": "tie",
    "tie (bothbad)": "tie",
    "tie (inconsistent)": "tie",
}
_USERNAME_BAD = re.compile(r"[^A-Za-z0-9_.@-]")
# Judges told apart by name (see `judge_identity`): MT-Bench's people are `expert_12` and
# `author_3`; a name naming a model family or a judge setup (`gpt4_pair`, `claude-v1`) is a model
# judge. Any other name is not guessed.
_PERSON_JUDGE = re.compile(r"(expert|author)_\d+")
_MODEL_JUDGE = re.compile(
    r"gpt|claude|llama|vicuna|alpaca|palm|gemini|mistral|mixtral|qwen|koala|dolly|chatglm"
    r"|falcon|stablelm|rwkv|oasst|wizard|mpt|_pair|judge"
)
JUDGE_KINDS = ("auto", "person", "model")


@dataclass(frozen=True)
class Layout:
    """What a file's layout means when its items are stored."""

    allow_tie: bool  # the imported tasks' tie rule unless the caller says otherwise
    dataset: str | None = None  # the dataset unless one is given (None: the file's name)
    title: str | None = None  # a task title's first words (None: the question type)
    # Pairwise files: repeats that disagree lose their gold, a tie gold the tasks cannot take is
    # dropped, and a stored question that keeps another gold is noted; each with a note. Else the
    # first row's gold is kept and a tie gold the tasks cannot take fails its item.
    gold_notes: bool = False


LAYOUTS = {
    "items": Layout(allow_tie=False),
    "mtbench_judgments": Layout(allow_tie=True, dataset=MTBENCH_DATASET),
    "pairs": Layout(allow_tie=False, title="A/B Preference", gold_notes=True),
    # A .json array of pairs, like the demo sample: MT-Bench records a tie verdict as a null gold.
    "mtbench_sample": Layout(
        allow_tie=True, dataset=MTBENCH_DATASET, title="A/B Preference", gold_notes=True
    ),
}


@dataclass
class Answer:
    line: int
    judge: str
    chosen_response: str
    shown_order: str
    key: str
    source_label: str | None = None  # the verdict's own words where they say more than the answer
    judge_kind: str = "person"  # person, or model (an LLM judge)
    judge_groups: tuple[str, ...] = ()


@dataclass
class Item:
    lines: list[int]
    question_type: str
    content: dict[str, Any]
    gold: Any = None
    source_ref: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    # The item's identity in its source (source id, model pair, turn) where it has one: items
    # asking the same text with different identities are different tasks.
    source_key: str | None = None
    answers: list[Answer] = field(default_factory=list)
    title: str | None = None
    disputed: bool = False  # its rows gave different golds (layouts with gold_notes)

    def flipped(self) -> Item:
        """The same pairwise item with its sides the other way round (A is B): options, each
        side's messages, model names, gold and every answer's choice and order turned."""
        swap = {"A": "B", "B": "A"}
        content = questions_domain.swap_sides(self.content)
        metadata = dict(self.metadata)
        if "model_a" in metadata or "model_b" in metadata:
            metadata["model_a"], metadata["model_b"] = (
                self.metadata.get("model_b"),
                self.metadata.get("model_a"),
            )
        return replace(
            self,
            content=content,
            metadata=metadata,
            gold=swap.get(self.gold, self.gold) if isinstance(self.gold, str) else self.gold,
            answers=[
                replace(
                    a,
                    chosen_response=swap.get(a.chosen_response, a.chosen_response),
                    shown_order={"AB": "BA", "BA": "AB"}.get(a.shown_order, a.shown_order),
                )
                for a in self.answers
            ],
        )


@dataclass
class Checked:
    """The validation report of every source: the items to store and each bad row."""

    layout: str
    question_type: str
    rows: int = 0
    items: list[Item] = field(default_factory=list)
    failed: list[ImportIssue] = field(default_factory=list)
    skipped: list[ImportIssue] = field(default_factory=list)  # understood, left out on purpose


def parse_mapping(pairs: Iterable[str], question_type: str) -> dict[str, str]:
    """Return {field: column} from `field=column` strings; raise InvalidInput on a bad one."""
    if question_type not in FIELDS:
        raise InvalidInput(
            f"question type must be one of {', '.join(FIELDS)}", field="question_type"
        )
    mapping: dict[str, str] = {}
    for pair in pairs:
        name, sep, column = pair.partition("=")
        name, column = name.strip(), column.strip()
        if not sep or not name or not column:
            raise InvalidInput(f"mapping {pair!r} must read FIELD=COLUMN", field="map")
        if name not in FIELDS[question_type]:
            raise InvalidInput(
                f"{question_type} has no field {name!r}; fields: "
                f"{', '.join(FIELDS[question_type])}",
                field="map",
            )
        mapping[name] = column
    return mapping


def is_mtbench_judgments(rows: list[Row]) -> bool:
    """Whether the rows have the MT-Bench human-judgments columns."""
    first = next((row for _, row in rows if isinstance(row, dict)), None)
    return first is not None and set(first) >= MTBENCH_COLUMNS


# --- one row ---------------------------------------------------------------------------------


def column_value(
    row: dict[str, Any], name: str, aliases: tuple[str, ...], mapping: dict[str, str]
) -> Any:
    """A field of a row: its mapped column (missing: InvalidInput naming it), else the first of
    the usual names the row has, else None."""
    if name in mapping:
        if mapping[name] not in row:
            raise InvalidInput(f"column {mapping[name]!r} (for {name}) is missing", field=name)
        return row[mapping[name]]
    for alias in aliases:
        if alias in row:
            return row[alias]
    return None


def _text(value: Any, name: str, *, required: bool, pairs: bool = False) -> str | None:
    """The text of a field. pairs: the older rules of pairwise files: only "" counts as absent,
    only an id may be a number (an int or a float), and only the prompt may not be blank."""
    if isinstance(value, str) and not required and (value == "" if pairs else not value.strip()):
        value = None
    if value is None:
        if required:
            raise InvalidInput(f"{name} is missing", field=name)
        return None
    number = (int, float) if pairs else int
    if isinstance(value, number) and not isinstance(value, bool) and (name == "id" or not pairs):
        value = str(value)
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be text, not {type(value).__name__}", field=name)
    if required and not value.strip() and (name == "prompt" or not pairs):
        raise InvalidInput(f"{name} is empty", field=name)
    if len(value) > MAX_FIELD_CHARS:
        raise InvalidInput(f"{name} is longer than {MAX_FIELD_CHARS} characters", field=name)
    return value


def _list(value: Any, name: str) -> list | None:
    """A list as it comes from JSON or Parquet, or a JSON array in a CSV cell."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise InvalidInput(f"{name} must be a JSON array", field=name) from None
    if hasattr(value, "tolist"):
        value = value.tolist()
    if not isinstance(value, list):
        raise InvalidInput(f"{name} must be a list", field=name)
    return value


def pair_label(question: str, model_1: str, model_2: str) -> str:
    """A short name telling apart the pairs asked of one question ("pair 3f2a") without naming
    the models: a digest keyed by the server's secret, so nobody can work the names back out
    from it."""
    digest = keyed.digest("pair-title", json.dumps([question, model_1, model_2]))
    return f"pair {digest[:2].hex()}"


def source_key(source_ref: str | None, metadata: dict[str, Any]) -> str | None:
    """The identity of an item whose source names what produced it (model pair, turn), with its
    source id; None for an item known by its text alone (repeats of it are one task)."""
    models = sorted(
        (metadata.get("model_a"), metadata.get("model_b")), key=lambda m: (m is None, m or "")
    )
    turn = metadata.get("turn")
    if all(value is None for value in (*models, turn)):
        return None
    # the models in name order: the same pair is the same item whichever side a file puts first
    return json.dumps([source_ref, *models, turn], ensure_ascii=False)


def typed_item(row: Any, line: int, question_type: str, mapping: dict[str, str]) -> Item:
    """Return the item of one row of a typed file, or raise InvalidInput with the reason."""
    if not isinstance(row, dict):
        raise InvalidInput(f"expected an object, got {type(row).__name__}")
    spec = FIELDS[question_type]
    get = {name: column_value(row, name, aliases, mapping) for name, aliases in spec.items()}
    content: dict[str, Any] = {}
    gold: Any = None
    metadata: dict[str, Any] = {}
    if question_type == "pairwise_ab":
        for name in ("prompt", "optionA", "optionB"):
            content[name] = _text(get[name], name, required=True)
        gold = questions_domain.normalize_pairwise_gold(get["gold"])
        for name in ("model_a", "model_b"):
            if (model := _text(get[name], name, required=False)) is not None:
                metadata[name] = model
    elif question_type == "ranking":
        content["prompt"] = _text(get["prompt"], "prompt", required=True)
        options = _list(get["options"], "options")
        if options is None:
            raise InvalidInput("options is missing", field="options")
        content["options"] = [_text(o, "options", required=False) or "" for o in options]
        gold = _list(get["gold"], "gold")
        if gold is not None and sorted(gold) != list(range(len(options))):
            raise InvalidInput(
                f"gold must order every option index 0..{len(options) - 1} once", field="gold"
            )
    elif question_type == "text_generation":
        content["prompt"] = _text(get["prompt"], "prompt", required=True)
        gold = _text(get["gold"], "gold", required=False)
    else:
        content["prompt"] = _text(get["prompt"], "prompt", required=False) or (
            "Transcribe the recording."
        )
        content["audio_url"] = _text(get["audio_url"], "audio_url", required=True)
        gold = _text(get["gold"], "gold", required=False)
    content = questions_domain.validate_content(question_type, content)
    source_ref = _text(get["id"], "id", required=False)
    return Item(
        lines=[line],
        question_type=question_type,
        content=content,
        gold=gold,
        source_ref=source_ref,
        metadata=metadata,
        source_key=source_key(source_ref, metadata),
    )


def pair_item(row: Any, line: int, *, mtbench: bool) -> Item:
    """Return the item of one row of a pairwise file, or raise InvalidInput with the reason.

    mtbench: a .json array like the demo sample, where a null gold is a tie verdict and a
    numbered item's task is titled by its MT-Bench number."""
    if not isinstance(row, dict):
        raise InvalidInput(f"expected an object, got {type(row).__name__}")

    def text(name: str, required: bool) -> str | None:
        return _text(
            column_value(row, name, PAIR_FIELDS[name], {}), name, required=required, pairs=True
        )

    gold_raw = column_value(row, "gold", PAIR_FIELDS["gold"], {})
    gold = questions_domain.normalize_pairwise_gold(gold_raw)
    if gold is None and mtbench and gold_raw is None and "gold" in row:
        gold = "tie"
    content = {name: text(name, True) or "" for name in ("prompt", "optionA", "optionB")}
    source_ref = text("id", False)
    model_a, model_b = text("model_a", False), text("model_b", False)
    metadata = {"model_a": model_a, "model_b": model_b} if model_a or model_b else {}
    return Item(
        lines=[line],
        question_type="pairwise_ab",
        content=content,
        gold=gold,
        source_ref=source_ref,
        metadata=metadata,
        source_key=source_key(source_ref, metadata),
        title=(
            f"A/B Preference – MTBench #{source_ref}"
            + (
                f", {pair_label(source_ref, *sorted((model_a or '', model_b or '')))}"
                if model_a or model_b
                else ""
            )
            if mtbench and source_ref
            else None
        ),
    )


def _conversation(value: Any, name: str, turn: int) -> list[tuple[str, str]]:
    messages = _list(value, name)
    if messages is None:
        raise InvalidInput(f"{name} is missing", field=name)
    pairs = []
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("content"), str):
            raise InvalidInput(f"{name} must be a list of {{role, content}} messages", field=name)
        pairs.append((message.get("role"), message["content"]))
    roles = [role for role, _ in pairs[: 2 * turn]]
    if len(pairs) < 2 * turn or roles != ["user", "assistant"] * turn:
        raise InvalidInput(
            f"{name} needs alternating user/assistant messages through turn {turn}", field=name
        )
    return pairs[: 2 * turn]


def _judge_name(judge: str, prefix: str) -> str:
    name = _USERNAME_BAD.sub("_", f"{prefix}{judge}")[:64]
    return name if name[:1].isalnum() else f"j{name}"[:64]


def _check_judge_kind(kind: str) -> None:
    if kind not in JUDGE_KINDS:
        kinds = ", ".join(JUDGE_KINDS)
        raise InvalidInput(f"judge kind must be one of {kinds}", field="judge_kind")


def judge_identity(judge: str, kind: str = "auto") -> tuple[str, tuple[str, ...]]:
    """Return a judge's kind (person or model) and groups.

    auto: `expert_12` / `author_3` (MT-Bench's people) are persons in group expert / author; a
    name naming a model family or a judge setup (`gpt4_pair`, `claude-v1`) is a model judge in
    group `model`; any other name is refused, since a model judge taken for a person would count
    in consensus (say --judge-kind). person / model: as told; a person's group is still read from
    a name of that shape."""
    _check_judge_kind(kind)
    name = judge.strip().lower()
    shaped = _PERSON_JUDGE.fullmatch(name)
    if kind == "model" or (kind == "auto" and shaped is None and _MODEL_JUDGE.search(name)):
        return "model", ("model",)
    if kind == "auto" and shaped is None:
        raise InvalidInput(
            f"judge {judge!r}: say whether the judges are people or models "
            "(--judge-kind person or model)",
            field="judge_kind",
        )
    return "person", (shaped.group(1),) if shaped else ()


def judgment_item(
    row: Any,
    line: int,
    prefix: str,
    judge_kind: str = "auto",
    sides: dict[tuple, tuple[str, str]] | None = None,
) -> Item:
    """Return the item of one MT-Bench judgment with the judge's answer, or raise InvalidInput.

    sides: for each (question, pair of models, turn), the order of the models its first row in
    the file gave (filled in as rows are read); a later row naming them the other way round is
    turned to match. Without it, each row keeps its own order."""
    if not isinstance(row, dict):
        raise InvalidInput(f"expected an object, got {type(row).__name__}")
    qid = _text(row.get("question_id"), "question_id", required=True)
    model_a = _text(row.get("model_a"), "model_a", required=True)
    model_b = _text(row.get("model_b"), "model_b", required=True)
    if model_a == model_b:
        raise InvalidInput("model_a and model_b are the same model", field="model_b")
    verdict = " ".join(str(row.get("winner")).split()).lower()
    winner = _WINNERS.get(verdict)
    if winner is None:
        raise InvalidInput(
            "winner must be model_a, model_b or tie (plain, bothbad or inconsistent), "
            f"not {row.get('winner')!r}",
            field="winner",
        )
    judge_raw = row.get("judge")
    if isinstance(judge_raw, list | tuple) and all(isinstance(j, str) for j in judge_raw):
        judge_raw = "/".join(judge_raw)  # FastChat's own files name a judge as [model, prompt]
    judge = _text(judge_raw, "judge", required=True)
    turn = row.get("turn", 1)
    if isinstance(turn, str) and turn.strip().isdigit():
        turn = int(turn)
    if turn not in (1, 2):
        raise InvalidInput(f"turn must be 1 or 2, not {turn!r}", field="turn")
    conv_a = _conversation(row.get("conversation_a"), "conversation_a", turn)
    conv_b = _conversation(row.get("conversation_b"), "conversation_b", turn)
    asked_a = [text for role, text in conv_a if role == "user"]
    asked_b = [text for role, text in conv_b if role == "user"]
    if asked_a != asked_b:
        raise InvalidInput("conversation_a and conversation_b ask different questions")
    answers_a = [text for role, text in conv_a if role == "assistant"]
    answers_b = [text for role, text in conv_b if role == "assistant"]
    # One task per (question, unordered model pair, turn): side A is the model the pair's first
    # row in the file named first (the side is what the rows say, not an order of the names),
    # and rows showing the pair the other way round are turned to match, keeping the order the
    # judge saw as the answer's shown_order.
    first = (sides if sides is not None else {}).setdefault(
        (qid, frozenset((model_a, model_b)), turn), (model_a, model_b)
    )
    flipped = first != (model_a, model_b)
    if flipped:
        model_a, model_b = model_b, model_a
        answers_a, answers_b = answers_b, answers_a
        conv_a, conv_b = conv_b, conv_a
        winner = {"A": "B", "B": "A"}.get(winner, winner)

    def side(answers: list[str]) -> str:
        if turn == 1:
            return answers[0]
        return f"Turn 1:\n{answers[0]}\n\nTurn 2:\n{answers[1]}"

    prompt = asked_a[0] if turn == 1 else f"Turn 1:\n{asked_a[0]}\n\nTurn 2:\n{asked_a[1]}"
    flat = {"prompt": prompt, "optionA": side(answers_a), "optionB": side(answers_b)}
    # A later turn keeps its messages too: the turns both sides share, then each model's own
    # (its earlier replies and the reply judged), so exports stay conversations.
    if turn > 1:
        flat["conversation"] = questions_domain.split_conversations(conv_a, conv_b)
    content = questions_domain.validate_content("pairwise_ab", flat)
    for name, text in questions_domain.flat_content(content).items():
        _text(text, name, required=name == "prompt")
    kind, groups_of_judge = judge_identity(judge, judge_kind)
    # The answer's key and the item's identity do not depend on which side is A: the models in
    # name order, the winner named against that order (as keys were made before sides followed
    # the rows, so answers imported then are found again).
    low, high = sorted((model_a, model_b))
    by_name = winner if model_a == low else {"A": "B", "B": "A"}.get(winner, winner)
    identity = json.dumps([qid, low, high, turn, judge, by_name, line], ensure_ascii=False)
    metadata = {"model_a": model_a, "model_b": model_b, "turn": turn}
    return Item(
        lines=[line],
        question_type="pairwise_ab",
        content=content,
        source_ref=qid,
        metadata=metadata,
        source_key=source_key(qid, metadata),
        # No model names: annotators see the title, and a name is a reason to vote for it.
        title=f"A/B Preference – MT-Bench #{qid} turn {turn}, {pair_label(qid, low, high)}",
        answers=[
            Answer(
                line=line,
                judge=_judge_name(judge, prefix),
                chosen_response=winner,
                shown_order="BA" if flipped else "AB",
                key="import:" + hashlib.sha256(identity.encode()).hexdigest()[:40],
                source_label=verdict if verdict.startswith("tie (") else None,
                judge_kind=kind,
                judge_groups=groups_of_judge,
            )
        ],
    )


# --- every row -------------------------------------------------------------------------------


def groups(items: list[Item]) -> list[list[int]]:
    """Return the positions of the items that are the same source item (the same question and
    the same identity in the source), by first appearance."""
    found: dict[str, list[int]] = {}
    for position, item in enumerate(items):
        key = json.dumps([item.question_type, item.content, item.source_key], sort_keys=True)
        found.setdefault(key, []).append(position)
    return list(found.values())


def fold(group: list[Item], *, agreed_gold: bool) -> Item:
    """Return one item carrying all the group's rows and answers, with the first row's question.

    agreed_gold: the gold the rows agree on (rows without one do not disagree), none if they
    disagree (the item is then `disputed`); else the first row's gold."""
    first = group[0]
    if len(group) == 1:
        return first
    gold, disputed = first.gold, False
    if agreed_gold:
        verdicts = {item.gold for item in group if item.gold is not None}
        disputed = len(verdicts) > 1
        gold = None if disputed else (verdicts.pop() if verdicts else None)
    return replace(
        first,
        lines=[line for item in group for line in item.lines],
        answers=[answer for item in group for answer in item.answers],
        gold=gold,
        disputed=disputed,
    )


def validate_rows(
    rows: list[Row],
    unreadable: list[ImportIssue],
    *,
    layout: str,
    question_type: str,
    validate: Callable[[Any, int], Item],
) -> tuple[Checked, list[Item]]:
    """Validate every row with `validate`; return the report (rows asking the same question
    folded into one item) and each valid row's own item, in file order."""
    checked = Checked(
        layout=layout,
        question_type=question_type,
        rows=len(rows) + len(unreadable),
        failed=list(unreadable),
    )
    valid = []
    for line, row in rows:
        try:
            valid.append(validate(row, line))
        except InvalidInput as exc:
            where = f"{exc.field}: " if exc.field and exc.field not in exc.message else ""
            checked.failed.append(ImportIssue(line=line, reason=where + exc.message))
    agreed_gold = LAYOUTS[layout].gold_notes
    checked.items = [fold([valid[i] for i in g], agreed_gold=agreed_gold) for g in groups(valid)]
    checked.failed.sort(key=lambda issue: issue.line)
    return checked, valid


def check(
    rows: list[Row],
    *,
    question_type: str | None = None,
    mapping: dict[str, str] | None = None,
    judge_prefix: str = "mtbench.",
    judge_kind: str = "auto",
    unreadable: list[ImportIssue] | None = None,
    keep_identical: bool = False,
) -> Checked:
    """Validate every row; return the items and each bad row with its reason. No database.

    A pairwise item whose two answers are the same text asks nothing: it is reported and left
    out (listed in `skipped`), unless `keep_identical` (a judgment file may hold votes on such
    a pair: a tie)."""
    _check_judge_kind(judge_kind)
    mtbench = question_type is None and not mapping and is_mtbench_judgments(rows)
    kind = "pairwise_ab" if mtbench or question_type is None else question_type
    if kind not in FIELDS:
        raise InvalidInput(f"question type must be one of {', '.join(FIELDS)}", field="type")

    sides: dict[tuple, tuple[str, str]] = {}

    def validate(row: Any, line: int) -> Item:
        if mtbench:
            return judgment_item(row, line, judge_prefix, judge_kind, sides)
        return typed_item(row, line, kind, mapping or {})

    checked, _ = validate_rows(
        rows,
        unreadable or [],
        layout="mtbench_judgments" if mtbench else "items",
        question_type=kind,
        validate=validate,
    )
    if kind == "pairwise_ab" and not keep_identical:
        leave_out_identical(checked)
    return checked


def leave_out_identical(checked: Checked) -> None:
    """Move the pairs whose two answers are the same text from the items to `skipped`."""
    kept = []
    for item in checked.items:
        if identical_sides(item.content):
            checked.skipped.append(ImportIssue(line=item.lines[0], reason=IDENTICAL))
        else:
            kept.append(item)
    checked.items = kept


IDENTICAL = (
    "the two answers are the same text, so there is nothing to compare: left out (import with"
    " keep_identical to keep such pairs)"
)


def identical_sides(content: dict[str, Any]) -> bool:
    """Whether a pairwise item's two answers (or two conversations) are the same text."""
    conversation = content.get("conversation")
    if conversation:
        return conversation.get("a") == conversation.get("b")
    a, b = content.get("optionA"), content.get("optionB")
    return isinstance(a, str) and isinstance(b, str) and a.strip() == b.strip()


def check_file(
    data: bytes,
    filename: str,
    *,
    question_type: str | None = None,
    mapping: Iterable[str] = (),
    judge_prefix: str = "mtbench.",
    judge_kind: str = "auto",
    keep_identical: bool = False,
) -> Checked:
    """Read a file's rows and check them with a `FIELD=COLUMN` mapping (see `check`)."""
    rows, unreadable = read_rows(data, filename)
    fields = parse_mapping(mapping, question_type or "pairwise_ab")
    return check(
        rows,
        question_type=question_type,
        mapping=fields,
        judge_prefix=judge_prefix,
        judge_kind=judge_kind,
        unreadable=unreadable,
        keep_identical=keep_identical,
    )


def dataset_name(checked: Checked, filename: str, given: str | None = None) -> str:
    """The dataset the items go to: the one given, else MT-Bench's or the file's name."""
    return given or LAYOUTS[checked.layout].dataset or Path(filename).stem
