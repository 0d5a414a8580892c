"""Parsing of import files, without a database."""

from __future__ import annotations

import json

import pytest

from whstudio.domain import importing
from whstudio.domain.questions import normalize_pairwise_gold
from whstudio.errors import InvalidInput


def test_the_mtbench_sample_has_115_distinct_pairs_and_one_disagreement():
    text = importing.sample_path().read_text()
    parsed = importing.parse_text(text, "mtbench_sample.json", keep_identical=True)
    assert parsed.rows == 120 and not parsed.failed and parsed.mtbench
    merged = importing.merge_duplicates(parsed.items)
    assert len(merged) == 115
    # Three pairs of the real data have the same text on both sides: left out unless kept.
    default = importing.parse_text(text, "mtbench_sample.json")
    assert [issue.line for issue in default.checked.skipped] == [32, 50, 60]
    assert len(importing.merge_duplicates(default.items)) == 112
    conflicts = [m for m in merged if m.conflict]
    assert len(conflicts) == 1
    assert conflicts[0].gold is None and conflicts[0].item.source_ref == "108"
    repeated = [m for m in merged if len(m.lines) > 1]
    assert len(repeated) == 5


def test_mtbench_null_gold_is_a_tie_verdict():
    text = json.dumps([{"id": 1, "prompt": "p", "optionA": "a", "optionB": "b", "gold": None}])
    assert importing.parse_text(text, "x.json").items[0].gold == "tie"


def test_jsonl_reports_each_bad_line_with_its_number():
    lines = [
        json.dumps({"prompt": "p1", "optionA": "a", "optionB": "b", "gold": "a"}),
        "{not json",
        json.dumps({"prompt": "p2", "optionA": "a"}),
        "",
        json.dumps(["array"]),
        json.dumps({"prompt": "p3", "option_a": "a", "option_b": "b", "gold": "C"}),
        json.dumps({"prompt": "p4", "optionA": "a", "optionB": 5}),
        json.dumps({"prompt": "p5", "response_a": "a", "response_b": "b", "model_a": "m1"}),
    ]
    parsed = importing.parse_text("\n".join(lines), "x.jsonl")
    assert [i.line for i in parsed.items] == [1, 8]
    assert parsed.items[0].gold == "A" and parsed.items[1].gold is None
    assert parsed.items[1].model_a == "m1"
    reasons = {f.line: f.reason for f in parsed.failed}
    assert set(reasons) == {2, 3, 5, 6, 7}
    assert "not valid JSON" in reasons[2]
    assert "optionB is missing" in reasons[3]
    assert "expected an object" in reasons[5]
    assert "gold must be" in reasons[6]
    assert "optionB must be text" in reasons[7]


def test_csv_line_numbers_count_the_header_and_quoted_newlines():
    text = 'prompt,optionA,optionB,gold\n"multi\nline",a,b,B\n,a,b,\nq,a,b,A,extra\nok,a,b,tie\n'
    parsed = importing.parse_text(text, "x.csv")
    assert [(i.line, i.gold) for i in parsed.items] == [(3, "B"), (6, "tie")]
    assert {f.line for f in parsed.failed} == {4, 5}


def test_unknown_file_types_are_refused():
    parsed = importing.parse_text("x", "file.xlsx")
    assert parsed.failed and "unsupported file type" in parsed.failed[0].reason


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("A", "A"),
        ("a", "A"),
        ("b", "B"),
        (" B ", "B"),
        ("TIE", "tie"),
        (None, None),
        ("", None),
    ],
)
def test_gold_spellings(given, expected):
    assert normalize_pairwise_gold(given) == expected


@pytest.mark.parametrize("given", ["C", 1, ["A"], "AB"])
def test_gold_spellings_refused(given):
    with pytest.raises(InvalidInput):
        normalize_pairwise_gold(given)


def test_repeated_pairs_keep_an_agreed_gold_and_drop_a_disputed_one():
    item = importing.PairwiseItem
    merged = importing.merge_duplicates(
        [
            item(1, "p", "a", "b", "A"),
            item(2, "p", "a", "b", None),
            item(3, "p", "a", "b", "A"),
            item(4, "q", "a", "b", "A"),
            item(5, "q", "a", "b", "B"),
        ]
    )
    by_prompt = {m.item.prompt: m for m in merged}
    assert by_prompt["p"].gold == "A" and not by_prompt["p"].conflict
    assert by_prompt["q"].gold is None and by_prompt["q"].conflict


def test_every_source_checks_into_one_report_shape():
    from tests.importing.mtbench import judgments

    jsonl = "\n".join(json.dumps(r) for r in judgments()).encode()
    reports = {
        "demo sample": importing.parse_text(
            importing.sample_path().read_text(), "mtbench_sample.json"
        ).checked,
        "pairwise file": importing.parse_text(
            '{"prompt": "p", "optionA": "a", "optionB": "b"}', "x.jsonl"
        ).checked,
        "mtbench judgments": importing.check_file(jsonl, "human.jsonl"),
        "typed file": importing.check_file(
            b'{"prompt": "write"}', "t.jsonl", question_type="text_generation"
        ),
        "unreadable file": importing.check_file(b"nope", "x.parquet"),
    }
    for source, checked in reports.items():
        assert type(checked) is importing.Checked, source
        assert checked.layout in importing.LAYOUTS, source
        assert all(type(item) is importing.Item for item in checked.items), source
    layouts = {source: checked.layout for source, checked in reports.items()}
    assert layouts == {
        "demo sample": "mtbench_sample",
        "pairwise file": "pairs",
        "mtbench judgments": "mtbench_judgments",
        "typed file": "items",
        "unreadable file": "items",
    }
