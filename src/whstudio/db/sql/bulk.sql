-- Session settings raised for a bulk step and put back after it (whstudio.db.bulk).

-- name: raise_work_mem
-- A transaction-local setting; returns the value to put back.
SELECT current_setting('work_mem'), set_config('work_mem', %(value)s, true);

-- name: restore_work_mem
SELECT set_config('work_mem', %(value)s, true);
