-- Contract (whstudio.legacy.contract): what it checks first, the archive of the old columns,
-- the user names it fixes, and its DDL, composed with the names of the objects it changes.

-- name: quarantined_rows
-- Rows still in quarantine: contract waits until none is left.
SELECT count(*) FROM whs_legacy.quarantine

-- name: old_path_writes
-- The counter of writes through the old path: unchanged over a while, the old application
-- has stopped.
SELECT last_value FROM whs_legacy.old_path_writes

-- name: regclass
-- The table, NULL when it does not exist.
SELECT to_regclass(%s)

-- name: archive
-- Keeps a table's ids and old columns in the archive table.
CREATE TABLE whs_legacy.{archive} AS SELECT {columns} FROM public.{table}

-- name: archived_rows
-- How many rows the archive table holds.
SELECT count(*) FROM whs_legacy.{archive}

-- name: users
-- Every user's name, to find those the new schema refuses.
SELECT id, username FROM public.users ORDER BY id

-- name: rename_user
-- A name the new schema accepts; the old one stays as the display name.
UPDATE public.users SET username = %s, display_name = coalesce(display_name, %s)
WHERE id = %s

-- name: drop_column
-- One of the old columns, in alter_table's list of changes.
DROP COLUMN {column}

-- name: unique_index
-- The index of a unique or primary-key constraint, built without blocking writes (composed
-- in: the constraint's columns as its definition gives them).
CREATE UNIQUE INDEX CONCURRENTLY {name} ON public.{table} {columns}

-- name: attach_index
-- The constraint (composed in: PRIMARY KEY or UNIQUE) over the index of its name.
ALTER TABLE public.{table} ADD CONSTRAINT {name} {kind} USING INDEX {name}

-- name: add_constraint_not_valid
-- A constraint as a fresh install defines it (composed in), checked later by validate.
ALTER TABLE public.{table} ADD CONSTRAINT {name} {definition} NOT VALID

-- name: validate_constraint
-- Checks the rows against a constraint added NOT VALID.
ALTER TABLE public.{table} VALIDATE CONSTRAINT {name}

-- name: enable_trigger
-- A fresh install's trigger that expand created disabled.
ALTER TABLE public.{table} ENABLE TRIGGER {name}

-- name: drop_function
-- The function's signature is composed in as written, name(arguments).
DROP FUNCTION IF EXISTS public.{signature}

-- name: drop_default
-- A default a fresh install does not have.
ALTER TABLE public.{table} ALTER COLUMN {column} DROP DEFAULT

-- name: set_default
-- The default as a fresh install defines it (composed in).
ALTER TABLE public.{table} ALTER COLUMN {column} SET DEFAULT {default}

-- name: drop_not_null
-- A NOT NULL a fresh install does not have.
ALTER TABLE public.{table} ALTER COLUMN {column} DROP NOT NULL

-- name: without_triggers
-- For this transaction only: the updates that fill defaults fire no trigger.
SET LOCAL session_replication_role = replica

-- name: fill_default
-- Gives the column's default to the rows that have none.
UPDATE public.{table} SET {column} = DEFAULT WHERE {column} IS NULL

-- name: not_null_check
-- SET NOT NULL after a validated CHECK skips its own full scan under the strong lock.
ALTER TABLE public.{table} ADD CONSTRAINT {name} CHECK ({column} IS NOT NULL) NOT VALID

-- name: set_not_null
-- Scans no row: the validated not_null_check proves it.
ALTER TABLE public.{table} ALTER COLUMN {column} SET NOT NULL

-- name: drop_check
-- The CHECK that stood in for NOT NULL.
ALTER TABLE public.{table} DROP CONSTRAINT {name}

-- name: retarget_trigger
-- A kept table's trigger made again as its definition (composed in) says.
DROP TRIGGER {name} ON public.{table}; {definition}
