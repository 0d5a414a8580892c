-- The fixed fragments the task dashboard's queries are composed of (whstudio.db.tasklist), after
-- tasks.list_page and tasks.list_count: a filter each, over named parameters, in the page's
-- terms (where_*) and in the kept totals' (count_where_*, task_counts of revision 0004); the
-- keyset position after which a page starts; the page's order. A sort's column, direction and
-- cast are composed in from tasklist.SORTS, never from input.

-- name: where_status
t.status = %(status)s

-- name: where_question_type
q.question_type = %(question_type)s

-- name: where_source_dataset
q.source_dataset = %(source_dataset)s

-- name: where_consensus_reached
c.consensus_reached = %(consensus_reached)s

-- name: where_needs_more_responses
(c.remaining > 0) = %(needs_more_responses)s

-- name: where_has_gold
c.has_gold = %(has_gold)s

-- name: count_where_status
task_status = %(status)s

-- name: count_where_question_type
question_type = %(question_type)s

-- name: count_where_source_dataset
source_dataset = %(source_dataset)s

-- name: count_where_consensus_reached
consensus_reached = %(consensus_reached)s

-- name: count_where_needs_more_responses
needs_more = %(needs_more_responses)s

-- name: count_where_has_gold
has_gold = %(has_gold)s

-- name: after
({column}, t.id) {op} (%(after_value)s::{cast}, %(after_id)s)

-- name: order
ORDER BY {column} {direction}, t.id {direction} LIMIT %(limit)s
