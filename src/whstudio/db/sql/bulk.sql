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
