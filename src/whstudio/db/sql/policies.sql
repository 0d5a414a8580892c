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
