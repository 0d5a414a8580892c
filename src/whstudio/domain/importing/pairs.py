"""The pairwise view of the import pipeline: `whstudio import`, the import page and the demo.

They read pairwise files (.json arrays in the MT-Bench layout, like the demo sample; .jsonl; .csv)
from text, preview each valid row and the pairs that repeat, then store one question and one task
per distinct (prompt, option A, option B); a second import of the same file creates nothing.
Reading, checking and storing are the pipeline's own stages; this module only names their results
the way these callers read them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from uuid import UUID

from psycopg import AsyncConnection

from whstudio.domain.importing.persist import ItemsReport, store
from whstudio.domain.importing.sources import Unreadable, read_pairs_text
from whstudio.domain.importing.validate import (
    Checked,
    Item,
    fold,
    groups,
    identical_sides,
    leave_out_identical,
    pair_item,
    validate_rows,
)


@dataclass
class PairwiseItem:
    """One valid row of a pairwise file."""

    line: int
    prompt: str
    option_a: str
    option_b: str
    gold: str | None
    source_ref: str | None = None
    model_a: str | None = None
    model_b: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.prompt, self.option_a, self.option_b)

    @classmethod
    def of(cls, item: Item) -> PairwiseItem:
        """Return the row of a pairwise item checked from one row."""
        return cls(
            line=item.lines[0],
            prompt=item.content["prompt"],
            option_a=item.content["optionA"],
            option_b=item.content["optionB"],
            gold=item.gold,
            source_ref=item.source_ref,
            model_a=item.metadata.get("model_a"),
            model_b=item.metadata.get("model_b"),
        )

    def item(self) -> Item:
        """Return the pipeline's item of this row."""
        models = {"model_a": self.model_a, "model_b": self.model_b}
        return Item(
            lines=[self.line],
            question_type="pairwise_ab",
            content={"prompt": self.prompt, "optionA": self.option_a, "optionB": self.option_b},
            gold=self.gold,
            source_ref=self.source_ref,
            metadata=models if self.model_a or self.model_b else {},
        )


@dataclass
class Parsed:
    """A checked pairwise file: the pipeline's report, and each valid row in file order."""

    checked: Checked
    items: list[PairwiseItem]

    @property
    def rows(self) -> int:
        return self.checked.rows

    @property
    def failed(self):
        return self.checked.failed

    @property
    def mtbench(self) -> bool:
        return self.checked.layout == "mtbench_sample"


def parse_text(text: str, filename: str, *, keep_identical: bool = False) -> Parsed:
    """Check a pairwise file's text by its extension: .json (MT-Bench array), .jsonl or .csv.
    A pair whose two answers are the same text is listed in `checked.skipped` and left out,
    unless `keep_identical`."""
    try:
        rows, unreadable = read_pairs_text(text, filename)
    except Unreadable as exc:
        return Parsed(Checked(layout="pairs", question_type="pairwise_ab", failed=[exc.issue]), [])
    mtbench = Path(filename).suffix.lower() == ".json"
    checked, valid = validate_rows(
        rows,
        unreadable,
        layout="mtbench_sample" if mtbench else "pairs",
        question_type="pairwise_ab",
        validate=partial(pair_item, mtbench=mtbench),
    )
    if not keep_identical:
        leave_out_identical(checked)
        valid = [item for item in valid if not identical_sides(item.content)]
    return Parsed(checked, [PairwiseItem.of(item) for item in valid])


@dataclass
class MergedPair:
    item: PairwiseItem
    gold: str | None
    lines: list[int]
    conflict: bool


def merge_duplicates(items: list[PairwiseItem]) -> list[MergedPair]:
    """Group rows that repeat a whole pair. Agreeing verdicts keep their gold; disagreeing ones
    leave the pair without gold. A row with no verdict does not disagree."""
    as_items = [pair.item() for pair in items]
    merged = []
    for group in groups(as_items):
        item = fold([as_items[i] for i in group], agreed_gold=True)
        merged.append(
            MergedPair(
                item=items[group[0]], gold=item.gold, lines=item.lines, conflict=item.disputed
            )
        )
    return merged


async def import_pairs(
    conn: AsyncConnection,
    parsed: Parsed,
    *,
    source: str,
    dataset: str,
    creator_id: UUID | None = None,
    consensus_threshold: int | None = None,
    min_agreement_percentage: float | None = None,
    allow_tie: bool | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ItemsReport:
    """Store the parsed items, good rows even beside bad ones (the caller commits); return the
    report."""
    return await store(
        conn,
        parsed.checked,
        source=source,
        dataset=dataset,
        creator_id=creator_id,
        consensus_threshold=consensus_threshold,
        min_agreement_percentage=min_agreement_percentage,
        allow_tie=allow_tie,
        strict=False,
        on_progress=on_progress,
    )
