-- What whstudio.db.bulk runs of its own: the session settings raised for a bulk step and put
-- back after it, and EXPLAIN around a named statement (its options and the statement composed in).

-- name: raise_work_mem
-- A transaction-local setting; returns the value to put back.
SELECT current_setting('work_mem'), set_config('work_mem', %(value)s, true);

-- name: restore_work_mem
SELECT set_config('work_mem', %(value)s, true);

-- name: explain
EXPLAIN ({options}) {statement}

-- name: grown_tables
-- Tables a bulk step grew past autovacuum's own rule (more than 50 rows plus a tenth of the
-- table since its statistics were taken), counting the step's own rows, which the statistics
-- views show only after it commits: on a server whose autovacuum is off or behind, the planner
-- would otherwise plan with the statistics of the table before the load (a whole index walked
-- per lookup, found 400 times slower). The rows counted since are the live rows the views see
-- (n_live_tup) beyond those the last ANALYZE found (reltuples), so that a step's own ANALYZE,
-- which the views learn of before its inserts, is not counted twice.
SELECT c.relname
  FROM unnest(%(tables)s::text[], %(grown)s::bigint[]) AS g(name, rows)
  JOIN pg_class c ON c.relname = g.name AND c.relnamespace = 'public'::regnamespace
  LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
 WHERE g.rows > 0
   AND greatest(coalesce(s.n_live_tup, 0) - greatest(c.reltuples, 0), 0) + g.rows
       > 50 + 0.1 * greatest(c.reltuples, 0)
 ORDER BY c.relname;

-- name: try_analyze_lock
-- One session analyses a table at a time; the others go on without waiting.
SELECT pg_try_advisory_xact_lock(hashtext('whstudio.analyze.' || %(table)s)) AS got;

-- name: analyze
-- Inside the step's transaction it sees the step's own rows as live.
ANALYZE {table};

-- name: counts_later_table
-- A step that creates many tasks in its transaction counts them once, as it ends (revision
-- 0020): the consensus rows it creates are noted here, not counted one by one.
CREATE TEMPORARY TABLE IF NOT EXISTS whs_uncounted_tasks (task_id uuid PRIMARY KEY)
    ON COMMIT DROP

-- name: counts_later_on
-- Returns whether the transaction counts later already (an enclosing step counts them then).
SELECT coalesce(current_setting('whstudio.counts_later', true), '') = 'on' AS already,
       set_config('whstudio.counts_later', 'on', true);

-- name: counts_later_off
-- The tasks noted, counted in their state now (as task_counts_move counts one), in one
-- statement, and the transaction counting one by one again.
WITH noted AS (DELETE FROM pg_temp.whs_uncounted_tasks RETURNING task_id)
INSERT INTO task_counts AS k (shard, task_status, question_type, source_dataset,
                              consensus_reached, needs_more, has_gold, n)
SELECT abs(hashtext(c.task_id::text)) % 16, c.task_status, c.question_type,
       coalesce(c.source_dataset, ''), c.consensus_reached, c.remaining > 0, c.has_gold,
       count(*)
  FROM noted x
  JOIN response_consensus c ON c.task_id = x.task_id
 GROUP BY 1, 2, 3, 4, 5, 6, 7
 ORDER BY 1, 2, 3, 4, 5, 6, 7
    ON CONFLICT ON CONSTRAINT task_counts_key DO UPDATE SET n = k.n + excluded.n;
SELECT set_config('whstudio.counts_later', 'off', true);
