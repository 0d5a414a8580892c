-- What whstudio.db.bulk runs of its own: the session settings raised for a bulk step and put
-- back after it, and EXPLAIN around a named statement (its options and the statement composed in).

-- name: raise_work_mem
-- A transaction-local setting; returns the value to put back.
SELECT current_setting('work_mem'), set_config('work_mem', %(value)s, true);

-- name: restore_work_mem
SELECT set_config('work_mem', %(value)s, true);

-- name: explain
EXPLAIN ({options}) {statement}
