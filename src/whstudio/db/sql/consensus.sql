-- name: read
-- One row by primary key (plus the task's rule): the O(1) consensus read.
SELECT c.task_id, c.count_a, c.count_b, c.count_tie, c.total_responses, c.weight_a, c.weight_b,
       c.weight_tie, c.confidence_sum, c.confidence_count, c.confidence_sum_a, c.confidence_sum_b,
       c.confidence_sum_tie, c.time_spent_sum, c.time_spent_count, c.agreement_percentage,
       c.weighted_agreement_percentage, c.final_answer, c.consensus_reached, c.reached_at,
       c.remaining, c.details, c.version, c.updated_at, c.ranking_counts,
       t.consensus_threshold, t.min_agreement_percentage, t.allow_tie, t.status, q.question_type,
       a.final_answer AS adjudicated_answer, a.created_at AS adjudicated_at,
       coalesce(p.reveal, 'after_answer') AS reveal
  FROM response_consensus c
  JOIN tasks t ON t.id = c.task_id
  JOIN questions q ON q.id = t.question_id
  LEFT JOIN task_adjudications a ON a.task_id = c.task_id
  LEFT JOIN dataset_policies p ON p.source_dataset = q.source_dataset
 WHERE c.task_id = %(task_id)s;

-- name: compare_with_recompute
-- Every task whose stored consensus differs from a recomputation from scratch.
SELECT c.task_id
  FROM response_consensus c, LATERAL consensus_recompute_v1(c.task_id) AS r
 WHERE (c.count_a, c.count_b, c.count_tie, c.total_responses, c.weight_a, c.weight_b, c.weight_tie,
        c.confidence_sum, c.confidence_count, c.confidence_sum_a, c.confidence_sum_b,
        c.confidence_sum_tie, c.time_spent_sum, c.time_spent_count, c.agreement_percentage,
        c.weighted_agreement_percentage, c.final_answer, c.consensus_reached, c.remaining,
        c.ranking_counts, c.ranking_weights)
       IS DISTINCT FROM
       (r.count_a, r.count_b, r.count_tie, r.total_responses, r.weight_a, r.weight_b, r.weight_tie,
        r.confidence_sum, r.confidence_count, r.confidence_sum_a, r.confidence_sum_b,
        r.confidence_sum_tie, r.time_spent_sum, r.time_spent_count, r.agreement_percentage,
        r.weighted_agreement_percentage, r.final_answer, r.consensus_reached, r.remaining,
        r.ranking_counts, r.ranking_weights);

-- name: rebuild
SELECT consensus_rebuild_v1(%(task_id)s);

-- name: newest_version
SELECT coalesce(max(version), 0) AS version FROM response_consensus;

-- name: versions_since
-- The versions of the rows changed after `version`, oldest first (response_consensus_version_idx).
SELECT version FROM response_consensus WHERE version > %(version)s ORDER BY version LIMIT %(limit)s;

-- name: changed_since
SELECT c.task_id, c.version, c.total_responses, c.remaining, c.consensus_reached,
       c.agreement_percentage, c.final_answer, c.count_a, c.count_b, c.count_tie
  FROM response_consensus c
 WHERE c.version > %(version)s
   AND (%(task_id)s::uuid IS NULL OR c.task_id = %(task_id)s::uuid)
 ORDER BY c.version
 LIMIT %(limit)s;

-- name: counts_drift
-- Combinations whose kept dashboard count differs from a count of the tasks themselves.
WITH truth AS (
    SELECT t.status, q.question_type, coalesce(q.source_dataset, ''), c.consensus_reached,
           c.remaining > 0 AS needs_more, q.gold_standard IS NOT NULL AS has_gold, count(*) AS n
      FROM tasks t
      JOIN questions q ON q.id = t.question_id
      JOIN response_consensus c ON c.task_id = t.id
     GROUP BY 1, 2, 3, 4, 5, 6
), kept AS (
    SELECT task_status, question_type, source_dataset, consensus_reached, needs_more, has_gold,
           sum(n)::bigint AS n
      FROM task_counts
     GROUP BY 1, 2, 3, 4, 5, 6
    HAVING sum(n) <> 0
)
SELECT count(*) AS differences
  FROM ((SELECT * FROM truth EXCEPT SELECT * FROM kept)
        UNION ALL
        (SELECT * FROM kept EXCEPT SELECT * FROM truth)) AS d;
