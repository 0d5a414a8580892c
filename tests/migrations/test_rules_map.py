"""The map of the database's rules in docs/consensus.md is the schema at head, and every file it
names holds the definition the database runs."""

from __future__ import annotations

from pathlib import Path

from whstudio.db import rules

DOC = Path(__file__).resolve().parents[2] / "docs" / "consensus.md"


def test_the_map_in_the_docs_is_the_schema_at_head(db_url):
    drawn = rules.render(rules.load(db_url))
    assert rules.current_section(DOC.read_text(encoding="utf-8")) == drawn, (
        "docs/consensus.md's rules map is stale: run scripts/update_schema_snapshot.py"
    )


def test_every_named_file_holds_the_definition_in_force(db_url):
    found = rules.load(db_url)
    assert rules.problems(found) == []
    # Every trigger and function of ours is placed, and the answer's chain reaches consensus,
    # quality and the webhook outbox.
    assert all(fn.place for fn in found.functions.values())
    assert all(trigger.place for trigger in found.triggers)
    section = rules.render(found)
    for name in ("consensus_store", "submissions_quality", "webhook_enqueue_v1"):
        assert f"`{name}()`" in section


def test_a_later_revision_wins_and_down_halves_do_not_count():
    functions, triggers = rules.definition_places()
    # consensus_store was written in 0002 and replaced in 0007 and 0008; 0008's down half puts
    # 0007's copy back, which must not count as the current one.
    place = functions["consensus_store"]
    assert place.path.endswith("0008_expand_plan_cached_quality.sql")
    text = (Path(rules.__file__).parents[1] / place.path).read_text().splitlines()
    assert "FUNCTION consensus_store(" in text[place.line - 1]
    assert text.index("-- migrate:down") > place.line - 1
    # the trigger was created in 0002, again (with in_consensus) in 0011 and again (standing
    # aside for the answers import) in 0012; 0012's down half restores 0011's, which does not
    # count
    assert triggers["submissions_count_vote"].path.endswith("0012_expand_bulk_answers.sql")
    assert triggers["users_kind_changed"].path.endswith("0011_expand_model_judges.sql")


def test_a_replaced_definition_is_reported(db_url):
    found = rules.load(db_url)
    # Point consensus_store at its first copy (0002): the body there is not the one in force.
    first = rules.Place("migrations/versions/0002_expand_consensus.sql", 150)
    found.functions["consensus_store"].place = first
    assert rules.problems(found) == [
        f"function consensus_store: {first} is not the definition in force"
    ]
