-- name: throughput
-- Answers per day over the last given days (every version counts: it is work done).
SELECT date_trunc('day', s.created_at AT TIME ZONE 'UTC')::date AS day, count(*) AS answers,
       count(DISTINCT s.user_id) AS annotators
  FROM submissions s
 WHERE s.created_at >= CURRENT_TIMESTAMP - make_interval(days => %(days)s)
 GROUP BY 1
 ORDER BY 1;

-- name: agreement_distribution
-- Tasks with at least two answers by their agreement, in ten buckets of 10 points.
SELECT least(width_bucket(c.agreement_percentage, 0, 100, 10), 10) AS bucket, count(*) AS tasks
  FROM response_consensus c
 WHERE c.total_responses >= 2
 GROUP BY 1
 ORDER BY 1;

-- name: dataset_progress
-- From the kept totals (task_counts): a sum over a few rows whatever the number of tasks.
SELECT nullif(source_dataset, '') AS source_dataset,
       sum(n)::bigint AS tasks,
       (sum(n) FILTER (WHERE consensus_reached))::bigint AS reached,
       (sum(n) FILTER (WHERE needs_more AND task_status = 'active'))::bigint AS waiting
  FROM task_counts
 GROUP BY 1
HAVING sum(n) > 0
 ORDER BY 1 NULLS LAST;

-- name: success_by_week
-- The plan's success metrics per week of the tasks' last consensus change: of the tasks that
-- have all their answers, the share that reached consensus (goal: 70 percent); the median time from a
-- task's creation to its consensus; and the share of all tasks that reached consensus.
SELECT date_trunc('week', c.updated_at AT TIME ZONE 'UTC')::date AS week,
       count(*) FILTER (WHERE c.remaining = 0) AS complete,
       count(*) FILTER (WHERE c.remaining = 0 AND c.consensus_reached) AS agreed,
       count(*) AS touched,
       count(*) FILTER (WHERE c.consensus_reached) AS reached,
       percentile_cont(0.5) WITHIN GROUP (
           ORDER BY extract(epoch FROM c.reached_at - t.created_at))
           FILTER (WHERE c.reached_at IS NOT NULL) AS median_completion_seconds
  FROM response_consensus c
  JOIN tasks t ON t.id = c.task_id
 WHERE c.total_responses > 0
   AND c.updated_at >= CURRENT_TIMESTAMP - make_interval(days => %(days)s)
 GROUP BY 1
 ORDER BY 1;

-- name: adjudication_by_week
-- Median time from a dispute to its adjudication, per week of the adjudication.
SELECT date_trunc('week', a.created_at AT TIME ZONE 'UTC')::date AS week, count(*) AS adjudicated,
       percentile_cont(0.5) WITHIN GROUP (
           ORDER BY extract(epoch FROM a.created_at - a.disputed_since))
           FILTER (WHERE a.disputed_since IS NOT NULL) AS median_seconds
  FROM task_adjudications a
 WHERE a.created_at >= CURRENT_TIMESTAMP - make_interval(days => %(days)s)
 GROUP BY 1
 ORDER BY 1;

-- name: annotator_groups
-- The groups annotators carry, and the two kinds (person, model), with how many are in each:
-- the sides agreement can be measured within or between.
SELECT g AS name, count(*) AS annotators
  FROM users CROSS JOIN LATERAL unnest(groups || kind) AS g
 GROUP BY g
 ORDER BY g;
