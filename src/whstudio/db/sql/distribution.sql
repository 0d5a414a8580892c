-- name: next
-- next_task_v3 (revision 0016) holds the queue logic and the limits of leases per annotator;
-- the task comes back in the same round trip, with the columns of tasks.detail. The coin decides gold first when it falls under the dataset's
-- gold rate (dataset_settings, else the default); a gold check, like any task, only while it
-- needs answers (revision 0015).
SELECT n.lease_expires_at,
       t.id, t.title, t.description, t.status, t.priority, t.expires_at, t.created_at,
       t.updated_at, t.consensus_threshold, t.min_agreement_percentage, t.allow_tie,
       t.count_model_votes, t.reward_amount, t.reward_currency, t.question_id,
       q.lineage_id AS question_lineage_id, q.version AS question_version, q.question_type,
       q.content, q.gold_standard, q.source_dataset, q.source_ref,
       q.metadata || t.metadata AS metadata, t.source_key,
       c.total_responses, c.remaining, c.consensus_reached,
       coalesce(p.reveal, 'after_answer') AS reveal, g.version AS guidelines_version,
       g.criteria
  FROM next_task_v3(%(user_id)s, %(lease_seconds)s, %(coin)s, %(default_gold_rate)s,
                    %(dataset)s, %(max_leases)s, %(max_seconds)s) AS n
  JOIN tasks t ON t.id = n.task_id
  JOIN questions q ON q.id = t.question_id
  JOIN response_consensus c ON c.task_id = t.id
  LEFT JOIN dataset_policies p ON p.source_dataset = q.source_dataset
  LEFT JOIN LATERAL (SELECT gl.version, gl.criteria FROM dataset_guidelines gl
                      WHERE gl.source_dataset = q.source_dataset
                      ORDER BY gl.version DESC LIMIT 1) g ON true;

-- name: set_gold_rate
INSERT INTO dataset_settings (source_dataset, gold_rate) VALUES (%(dataset)s, %(gold_rate)s)
ON CONFLICT (source_dataset) DO UPDATE SET gold_rate = excluded.gold_rate,
                                           updated_at = CURRENT_TIMESTAMP
RETURNING source_dataset, gold_rate, updated_at;

-- name: clear_gold_rate
DELETE FROM dataset_settings WHERE source_dataset = %(dataset)s;

-- name: gold_rates
SELECT source_dataset, gold_rate, updated_at FROM dataset_settings ORDER BY source_dataset;

-- name: skip
INSERT INTO task_skips (task_id, user_id, reason) VALUES (%(task_id)s, %(user_id)s, %(reason)s)
ON CONFLICT (task_id, user_id) DO UPDATE SET reason = excluded.reason,
                                             created_at = CURRENT_TIMESTAMP;

-- name: release
DELETE FROM task_leases WHERE task_id = %(task_id)s AND user_id = %(user_id)s;
