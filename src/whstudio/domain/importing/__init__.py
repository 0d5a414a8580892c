"""One import pipeline for every source: read a source into rows, check the rows into items (one
report, `Checked`, with each bad row and its reason), store the items and the answers recorded
with them (one report, `ItemsReport`).

- `sources`: the readers: .jsonl, .json, .csv and .parquet files (MT-Bench human judgments come in
  any of them), the pairwise files of `whstudio import` and the import page, the demo sample.
- `validate`: the row rules (typed items with a column mapping, MT-Bench judgments, pairwise rows),
  folding rows that ask the same question, and what each layout means when stored.
- `persist`: one store for every layout, each item in a savepoint of the caller's transaction.
- `pairs`: the names `whstudio import`, the import page and the demo read the pipeline by.
"""

from whstudio.domain.importing.pairs import (
    MergedPair,
    PairwiseItem,
    Parsed,
    import_pairs,
    merge_duplicates,
    parse_text,
)
from whstudio.domain.importing.persist import (
    ImportRefused,
    ItemsReport,
    report_json,
    report_of,
    store,
)
from whstudio.domain.importing.sources import SUFFIXES, Unreadable, read_rows, sample_path
from whstudio.domain.importing.validate import (
    FIELDS,
    LAYOUTS,
    MAX_FIELD_CHARS,
    MTBENCH_COLUMNS,
    MTBENCH_DATASET,
    Answer,
    Checked,
    Item,
    Layout,
    check,
    check_file,
    dataset_name,
    is_mtbench_judgments,
    parse_mapping,
)

__all__ = [
    "FIELDS",
    "LAYOUTS",
    "MAX_FIELD_CHARS",
    "MTBENCH_COLUMNS",
    "MTBENCH_DATASET",
    "SUFFIXES",
    "Answer",
    "Checked",
    "ImportRefused",
    "Item",
    "ItemsReport",
    "Layout",
    "MergedPair",
    "PairwiseItem",
    "Parsed",
    "Unreadable",
    "check",
    "check_file",
    "dataset_name",
    "import_pairs",
    "is_mtbench_judgments",
    "merge_duplicates",
    "parse_mapping",
    "parse_text",
    "read_rows",
    "report_json",
    "report_of",
    "sample_path",
    "store",
]
