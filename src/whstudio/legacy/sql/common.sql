-- What every step shares (whstudio.legacy.common): the recorded state and its history, the
-- legacy tables' columns and keys at the baseline, row digests, scratch databases.

-- name: state_table
-- The state table, NULL when the migration never started.
SELECT to_regclass('whs_legacy.state')

-- name: state
-- The recorded state row.
SELECT step, read_path, fresh_head, updated_at FROM whs_legacy.state

-- name: record
-- Appends a run of a step to the history.
INSERT INTO whs_legacy.history (step, started_at, ok, detail)
VALUES (%s, to_timestamp(%s), %s, %s::jsonb)

-- name: set_step
-- Records the step the database is at, and the fresh head when given.
INSERT INTO whs_legacy.state (step, fresh_head) VALUES (%(step)s, %(head)s)
ON CONFLICT (id) DO UPDATE SET step = %(step)s,
fresh_head = coalesce(%(head)s, whs_legacy.state.fresh_head),
updated_at = CURRENT_TIMESTAMP

-- name: legacy_columns
-- Each legacy table's columns at the baseline, in order.
SELECT table_name, column_name FROM whs_legacy.legacy_columns
ORDER BY table_name, position

-- name: legacy_keys
-- Each legacy table's primary-key columns at the baseline, in key order.
SELECT table_name, column_name FROM whs_legacy.legacy_columns
WHERE key_position IS NOT NULL ORDER BY table_name, key_position

-- name: present_tables
-- Which of the given tables the public schema has now.
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname = ANY(%s)

-- name: digest_by_key
-- Each row's key as text (composed in as id) and the md5 of its columns (composed in as row).
SELECT {id} AS id, md5(ROW({row})::text) AS digest FROM public.{table} AS t

-- name: digest_by_row
-- For a table without a key: each row's id is the md5 of the whole row and its ordinal among
-- identical rows.
SELECT 'row:' || md5(t::text) || ':'
|| row_number() OVER (PARTITION BY md5(t::text)) AS id,
md5(ROW({row})::text) AS digest FROM public.{table} AS t

-- name: key_of_one_column
-- A one-column key's JSON text (the doubled braces are format's escape of an empty path).
to_jsonb(t.{column}) #>> '{{}}'

-- name: key_of_columns
-- A key of several columns (composed in as t.column, ...) as a JSON array's text.
jsonb_build_array({columns})::text

-- name: drop_database
-- A scratch database, gone with whoever is connected to it.
DROP DATABASE IF EXISTS {name} WITH (FORCE)

-- name: create_database
-- A scratch database, empty whatever template1 holds.
CREATE DATABASE {name} TEMPLATE template0

-- name: analyze
-- Statistics for every table of the database.
ANALYZE
