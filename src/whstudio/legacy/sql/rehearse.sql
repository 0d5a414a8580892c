-- A rehearsal on a scratch copy (whstudio.legacy.rehearse): the original read in one read-only
-- transaction, a sample of it copied, and what the run met.

-- name: read_only
-- One snapshot of the original, never written.
SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY

-- name: being_migrated
-- The migration's schema, NULL when the database is not being migrated.
SELECT to_regnamespace('whs_legacy')

-- name: dumped_public_schema
-- How the schema dump creates the public schema, which the scratch database has already ...
CREATE SCHEMA public;

-- name: public_schema_if_missing
-- ... so it is created only if missing.
CREATE SCHEMA IF NOT EXISTS public;

-- name: columns
-- A table's columns, in order; none when it does not exist.
SELECT a.attname FROM pg_attribute a WHERE a.attrelid = to_regclass(%s)
AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum

-- name: foreign_keys
-- (column, referenced table) of each one-column foreign key of a table.
SELECT a.attname, r.relname FROM pg_constraint k
JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
JOIN pg_class r ON r.oid = k.confrelid
WHERE k.contype = 'f' AND k.conrelid = to_regclass(%s) AND cardinality(k.conkey) = 1

-- name: count
-- How many rows a table has.
SELECT count(*) FROM public.{table}

-- name: sample
-- Tasks at random.
SELECT id FROM public.tasks ORDER BY random() LIMIT %s

-- name: sampled_tasks
-- The sampled tasks (composed in: their ids, an array literal).
SELECT t.* FROM public.tasks t WHERE t.id = ANY ({ids})

-- name: sampled_submissions
-- Their answers.
SELECT s.* FROM public.submissions s WHERE s.task_id = ANY ({ids})

-- name: sampled_users
-- Every user the sampled tasks and answers name.
SELECT u.* FROM public.users u WHERE u.id IN (
 SELECT t.creator_id FROM public.tasks t WHERE t.id = ANY ({ids})
 UNION SELECT s.user_id FROM public.submissions s WHERE s.task_id = ANY ({ids})
 UNION SELECT s.reviewer_id FROM public.submissions s WHERE s.task_id = ANY ({ids}))

-- name: no_sample
-- The ids of an empty sample.
ARRAY[]::uuid[]

-- name: every_row
-- A table's rows, before the filters on its foreign keys.
SELECT * FROM public.{table}

-- name: refers_to_copied
-- A foreign key that is NULL or points at a copied row (composed in: the column, and the query
-- of the copied keys).
({column} IS NULL OR {column} IN ({keys}))

-- name: copied_keys
-- The keys a copy query copied (composed in: the query, and the table naming its alias).
SELECT id FROM ({query}) AS copied_{table}

-- name: without_triggers
-- Rows copied as they are, firing no trigger, as in the original.
SET session_replication_role = replica

-- name: with_triggers
-- Triggers fire again.
SET session_replication_role = origin

-- name: copy_out
-- A copy query's rows, read from the original.
COPY ({query}) TO STDOUT (FORMAT binary)

-- name: copy_in
-- Those rows, written into the scratch copy.
COPY public.{table} ({columns}) FROM STDIN (FORMAT binary)

-- name: quarantined
-- What the backfill quarantined, by table and reason.
SELECT table_name, reason, raw FROM whs_legacy.quarantine ORDER BY table_name, reason

-- name: normalised
-- The notes of each row read differently, with the answer's document when it is one.
SELECT n.table_name, n.notes, s.submission_data::text FROM whs_legacy.normalised n
LEFT JOIN public.submissions s ON s.id = n.row_id ORDER BY n.row_id

-- name: column_type
-- A column's type.
SELECT format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid = to_regclass(%s) AND attname = %s
