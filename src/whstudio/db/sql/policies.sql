-- name: all
-- Every dataset with a policy of its own (others take the defaults).
SELECT source_dataset, reveal, gold_feedback, updated_at
  FROM dataset_policies
 ORDER BY source_dataset;

-- name: of
SELECT source_dataset, reveal, gold_feedback, updated_at
  FROM dataset_policies
 WHERE source_dataset = %(dataset)s;

-- name: put
-- A field given as NULL keeps its value (or the default, for a dataset without a policy).
INSERT INTO dataset_policies (source_dataset, reveal, gold_feedback)
VALUES (%(dataset)s, coalesce(%(reveal)s, 'after_answer'), coalesce(%(gold_feedback)s, false))
ON CONFLICT (source_dataset) DO UPDATE
   SET reveal = coalesce(%(reveal)s, dataset_policies.reveal),
       gold_feedback = coalesce(%(gold_feedback)s, dataset_policies.gold_feedback),
       updated_at = CURRENT_TIMESTAMP
RETURNING source_dataset, reveal, gold_feedback, updated_at;

-- name: datasets
-- Every dataset with its tasks and what is set for it (the admin's datasets page).
SELECT d.source_dataset, d.tasks, d.reached,
       coalesce(p.reveal, 'after_answer') AS reveal, coalesce(p.gold_feedback, false)
       AS gold_feedback, s.gold_rate,
       (SELECT max(g.version) FROM dataset_guidelines g
         WHERE g.source_dataset = d.source_dataset) AS guidelines_version
  FROM (SELECT source_dataset, sum(n) AS tasks,
               sum(n) FILTER (WHERE consensus_reached) AS reached
          FROM task_counts
         WHERE source_dataset <> ''
         GROUP BY source_dataset) d
  LEFT JOIN dataset_policies p ON p.source_dataset = d.source_dataset
  LEFT JOIN dataset_settings s ON s.source_dataset = d.source_dataset
 WHERE d.tasks > 0
 ORDER BY d.source_dataset;

-- name: dataset
SELECT sum(n) AS tasks, sum(n) FILTER (WHERE consensus_reached) AS reached,
       sum(n) FILTER (WHERE needs_more) AS needing_answers,
       (SELECT s.gold_rate FROM dataset_settings s
         WHERE s.source_dataset = %(dataset)s) AS gold_rate
  FROM task_counts
 WHERE source_dataset = %(dataset)s;
