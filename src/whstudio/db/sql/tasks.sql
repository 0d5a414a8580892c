-- name: insert
INSERT INTO tasks (question_id, creator_id, title, description, consensus_threshold,
                   min_agreement_percentage, allow_tie, priority, status, expires_at, source_key,
                   metadata, count_model_votes)
VALUES (%(question_id)s, %(creator_id)s, %(title)s, %(description)s, %(consensus_threshold)s,
        %(min_agreement_percentage)s, %(allow_tie)s, %(priority)s, %(status)s, %(expires_at)s,
        %(source_key)s, %(metadata)s, %(count_model_votes)s)
RETURNING id, question_id, title, status, consensus_threshold, min_agreement_percentage, allow_tie,
          priority, expires_at, created_at, source_key, metadata, count_model_votes;

-- name: for_question
-- The first task asking a question that is no source item's own (tasks made in the app, and
-- imported items known by their text alone, are found this way).
SELECT id FROM tasks
 WHERE question_id = %(question_id)s AND source_key IS NULL
 ORDER BY created_at LIMIT 1;

-- name: for_source_key
-- The task of one source item: its question and its identity in the source (model pair, turn,
-- source id), so that two items with identical texts stay two tasks.
SELECT id FROM tasks WHERE question_id = %(question_id)s AND source_key = %(source_key)s;

-- name: count_by_status
SELECT status, count(*) AS tasks FROM tasks GROUP BY status ORDER BY 1;

-- name: detail
SELECT t.id, t.title, t.description, t.status, t.priority, t.expires_at, t.created_at,
       t.updated_at, t.consensus_threshold, t.min_agreement_percentage, t.allow_tie,
       t.count_model_votes, t.reward_amount, t.reward_currency, t.question_id,
       q.lineage_id AS question_lineage_id, q.version AS question_version, q.question_type,
       q.content, q.gold_standard, q.source_dataset, q.source_ref,
       q.metadata || t.metadata AS metadata, t.source_key,
       c.total_responses, c.remaining, c.consensus_reached,
       coalesce(p.reveal, 'after_answer') AS reveal, g.version AS guidelines_version,
       g.criteria
  FROM tasks t
  JOIN questions q ON q.id = t.question_id
  JOIN response_consensus c ON c.task_id = t.id
  LEFT JOIN dataset_policies p ON p.source_dataset = q.source_dataset
  LEFT JOIN LATERAL (SELECT gl.version, gl.criteria FROM dataset_guidelines gl
                      WHERE gl.source_dataset = q.source_dataset
                      ORDER BY gl.version DESC LIMIT 1) g ON true
 WHERE t.id = %(task_id)s;

-- name: latest_answer
-- The user's newest answer: the one that counts (is_latest), or one given after its author
-- could see others' answers (informed), kept beside it.
SELECT id, response_version, chosen_response, confidence, explanation, time_spent_seconds,
       shown_order, payload, created_at, is_latest AS counted, informed, guidelines_version,
       reasons
  FROM submissions
 WHERE task_id = %(task_id)s AND user_id = %(user_id)s
 ORDER BY response_version DESC
 LIMIT 1;

-- name: counted_answer
SELECT id, response_version, chosen_response, confidence, explanation, time_spent_seconds,
       payload, created_at
  FROM submissions
 WHERE task_id = %(task_id)s AND user_id = %(user_id)s AND is_latest;

-- name: set_status
UPDATE tasks SET status = %(status)s WHERE id = %(task_id)s
RETURNING id, status;

-- name: status
SELECT status FROM tasks WHERE id = %(task_id)s;

-- name: set_rule
UPDATE tasks
   SET consensus_threshold = coalesce(%(consensus_threshold)s, consensus_threshold),
       min_agreement_percentage = coalesce(%(min_agreement_percentage)s, min_agreement_percentage),
       allow_tie = coalesce(%(allow_tie)s, allow_tie),
       count_model_votes = coalesce(%(count_model_votes)s, count_model_votes),
       priority = coalesce(%(priority)s, priority),
       expires_at = CASE WHEN %(clear_expiry)s THEN NULL
                         ELSE coalesce(%(expires_at)s, expires_at) END
 WHERE id = %(task_id)s
RETURNING id;

-- name: list_page
SELECT t.id, t.title, t.status, t.priority, t.expires_at, t.created_at, t.consensus_threshold,
       t.min_agreement_percentage, t.allow_tie, t.reward_amount, t.reward_currency,
       q.question_type, q.source_dataset, left(q.content ->> 'prompt', 280) AS prompt_preview,
       c.has_gold, c.total_responses, c.remaining, c.consensus_reached, c.agreement_percentage,
       c.final_answer, {sort} AS sort_value
  FROM tasks t
  JOIN questions q ON q.id = t.question_id
  JOIN response_consensus c ON c.task_id = t.id

-- name: list_count
SELECT coalesce(sum(n), 0)::bigint AS n FROM task_counts

-- name: pick_for_rules
-- The tasks a rule change's filter picks, in id order: whether the new rule changes each, and
-- whether it had reached consensus. NULL filters and NULL changes leave that part alone;
-- metadata filters by containment in the task's metadata over its question's ({"turn": 1}).
SELECT t.id, c.consensus_reached AS reached,
       (t.consensus_threshold, t.min_agreement_percentage, t.allow_tie, t.count_model_votes,
        t.priority)
       IS DISTINCT FROM
       (coalesce(%(consensus_threshold)s, t.consensus_threshold),
        coalesce(%(min_agreement_percentage)s, t.min_agreement_percentage),
        coalesce(%(allow_tie)s, t.allow_tie),
        coalesce(%(count_model_votes)s, t.count_model_votes),
        coalesce(%(priority)s, t.priority)) AS changes
  FROM tasks t
  JOIN questions q ON q.id = t.question_id
  JOIN response_consensus c ON c.task_id = t.id
 WHERE (%(dataset)s::text IS NULL OR q.source_dataset = %(dataset)s::text)
   AND (%(question_type)s::text IS NULL OR q.question_type = %(question_type)s::text)
   AND (%(status)s::text IS NULL OR t.status = %(status)s::text)
   AND (%(task_ids)s::uuid[] IS NULL OR t.id = ANY (%(task_ids)s::uuid[]))
   AND (%(metadata)s::jsonb IS NULL OR q.metadata || t.metadata @> %(metadata)s::jsonb)
 ORDER BY t.id;

-- name: set_rules_of
-- The new rule of the tasks picked (each given part, the task's own where not given), with the
-- rule each had before. Through tasks_sync_consensus task by task, or, set-based, with that
-- trigger standing aside (whstudio.bulk_answers) for the replay.
UPDATE tasks t
   SET consensus_threshold = coalesce(%(consensus_threshold)s, t.consensus_threshold),
       min_agreement_percentage = coalesce(%(min_agreement_percentage)s,
                                           t.min_agreement_percentage),
       allow_tie = coalesce(%(allow_tie)s, t.allow_tie),
       count_model_votes = coalesce(%(count_model_votes)s, t.count_model_votes),
       priority = coalesce(%(priority)s, t.priority)
  FROM tasks old
 WHERE t.id = ANY (%(ids)s::uuid[]) AND old.id = t.id
RETURNING t.id, t.consensus_threshold AS threshold, t.count_model_votes,
          (old.consensus_threshold, old.min_agreement_percentage, old.allow_tie)
              IS DISTINCT FROM
          (t.consensus_threshold, t.min_agreement_percentage, t.allow_tie) AS rebuilt,
          old.count_model_votes IS DISTINCT FROM t.count_model_votes AS models_moved;

-- name: sync_priority
-- What tasks_sync_consensus keeps of a task on its consensus row (a priority change).
UPDATE response_consensus c
   SET task_priority = t.priority
  FROM tasks t
 WHERE t.id = ANY (%(ids)s::uuid[]) AND c.task_id = t.id AND c.task_priority <> t.priority;

-- name: reached_among
SELECT count(*) AS reached FROM response_consensus
 WHERE task_id = ANY (%(task_ids)s::uuid[]) AND consensus_reached;

-- name: adopt_unkeyed
-- A task made for this item before tasks kept their source identity (its question's metadata
-- names the same pair of models, in either order, and the same turn) becomes the item's task:
-- it takes the key and the item's metadata, so a second import finds it instead of making
-- another.
UPDATE tasks t
   SET source_key = %(source_key)s, metadata = %(metadata)s
 WHERE t.id = (SELECT t2.id
                 FROM tasks t2
                 JOIN questions q ON q.id = t2.question_id
                WHERE t2.question_id = %(question_id)s AND t2.source_key IS NULL
                  AND least(q.metadata ->> 'model_a', q.metadata ->> 'model_b') = %(low)s
                  AND greatest(q.metadata ->> 'model_a', q.metadata ->> 'model_b') = %(high)s
                  AND (q.metadata -> 'turn') IS NOT DISTINCT FROM %(turn)s::jsonb
                ORDER BY t2.created_at
                LIMIT 1)
RETURNING t.id;
