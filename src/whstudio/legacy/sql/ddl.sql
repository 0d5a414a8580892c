-- DDL on a database in use (whstudio.legacy.ddl), and the statements over one object of the
-- public schema that rollback and contract share, composed with its names.

-- name: lock_timeout
-- How long a statement of ddl.run waits for a lock (composed in as a literal) before it gives
-- up and is retried.
SET LOCAL lock_timeout = {timeout}

-- name: index_valid
-- Whether the public index is valid; no row when it does not exist.
SELECT x.indisvalid FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_namespace n ON n.oid = i.relnamespace
WHERE n.nspname = 'public' AND i.relname = %s

-- name: no_lock_timeout
-- A concurrent index build waits for older transactions, which blocks nobody.
SET lock_timeout = 0

-- name: reset_lock_timeout
-- Back to the session's lock timeout.
RESET lock_timeout

-- name: drop_index
-- Outside a transaction; writes go on while it runs.
DROP INDEX CONCURRENTLY IF EXISTS public.{name}

-- name: drop_trigger
-- A trigger the migration added, or a fresh install does not have.
DROP TRIGGER IF EXISTS {name} ON public.{table}

-- name: drop_constraint
-- A constraint the migration added, or a fresh install does not have.
ALTER TABLE public.{table} DROP CONSTRAINT IF EXISTS {name}

-- name: alter_table
-- Several changes of one table (composed in as actions, comma-separated) in one statement.
ALTER TABLE public.{table} {actions}
