-- The migration's steps (whstudio.legacy.steps): the baseline, expand, backfill, switch,
-- rollback and status.

-- name: baseline_taken
-- Whether expand took the baseline already.
SELECT EXISTS (SELECT FROM whs_legacy.baseline_catalog)

-- name: record_legacy_columns
-- Records the given tables' columns, in order, and the position of each in the primary key.
INSERT INTO whs_legacy.legacy_columns (table_name, column_name, position, key_position)
SELECT c.relname, a.attname, a.attnum,
       (SELECT k.ord FROM pg_index i, unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
         WHERE i.indrelid = c.oid AND i.indisprimary AND k.attnum = a.attnum)
  FROM pg_attribute a
  JOIN pg_class c ON c.oid = a.attrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND c.relname = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped

-- name: log_changes
-- Logs every write of a legacy table (composed in: the table, and its key's column names as
-- literals).
CREATE OR REPLACE TRIGGER whs_legacy_log_change AFTER INSERT OR UPDATE OR DELETE
ON public.{table} FOR EACH ROW EXECUTE FUNCTION whs_legacy.log_change_v2({key})

-- name: repeatable_read
-- One snapshot for every table's checksums.
SET TRANSACTION ISOLATION LEVEL REPEATABLE READ

-- name: record_checksums
-- A table's row checksums (composed in: its name as a literal, and its digest query).
INSERT INTO whs_legacy.checksums (table_name, row_id, digest)
SELECT {table}, d.id, d.digest FROM ({digests}) AS d

-- name: truncate
-- Empties one of the migration's tables before a new baseline.
TRUNCATE whs_legacy.{table}

-- name: copy_baseline_objects
-- The legacy schema's objects at the baseline, what rollback keeps.
COPY whs_legacy.baseline_objects (kind, name) FROM STDIN

-- name: copy_baseline_catalog
-- The legacy catalog's description, what rollback restores.
COPY whs_legacy.baseline_catalog (line) FROM STDIN

-- name: baseline_objects
-- The objects at the baseline.
SELECT kind, name FROM whs_legacy.baseline_objects

-- name: baseline_catalog
-- The catalog's description at the baseline.
SELECT line FROM whs_legacy.baseline_catalog

-- name: record_validation
-- A constraint created NOT VALID, validated after the backfill.
INSERT INTO whs_legacy.validations (name, statement) VALUES (%s, %s)
ON CONFLICT (name) DO NOTHING

-- name: columns_of
-- A table's column names, in order (NULL when it does not exist).
SELECT array_agg(a.attname::text ORDER BY a.attnum) FROM pg_attribute a
 WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped

-- name: seed_table
-- (Re)creates whs_legacy.consensus_seed shaped like tasks (see steps._seed_table). Its rows live
-- for one statement: the index finds them among the dead ones.
DROP TABLE IF EXISTS whs_legacy.consensus_seed;
CREATE UNLOGGED TABLE whs_legacy.consensus_seed (LIKE public.tasks);
CREATE INDEX consensus_seed_id ON whs_legacy.consensus_seed (id);
CREATE TRIGGER seed_defaults BEFORE INSERT ON whs_legacy.consensus_seed
FOR EACH ROW EXECUTE FUNCTION whs_legacy.seed_defaults_v1();
CREATE TRIGGER seed_consensus AFTER INSERT ON whs_legacy.consensus_seed
FOR EACH ROW EXECUTE FUNCTION public.tasks_create_consensus()

-- name: dual_write_trigger
-- One of steps.DUAL_WRITE_TRIGGERS (composed in: its name, timing, table, guard, function).
CREATE TRIGGER {name} {timing} ON public.{table} FOR EACH ROW{guard} EXECUTE FUNCTION {function}()

-- name: tasks_pending
-- A task the backfill has yet to migrate.
question_id IS NULL

-- name: submissions_pending
-- A submission the backfill has yet to migrate.
chosen_response IS NULL AND payload IS NULL

-- name: start_phase
-- A backfill phase's progress row, counting the rows it has to migrate (composed in: the table
-- and its pending condition), unless the phase started before.
INSERT INTO whs_legacy.progress (phase, total)
SELECT %s, count(*) FROM public.{table} WHERE {pending} ON CONFLICT DO NOTHING

-- name: phase
-- A backfill phase's progress, and whether it finished.
SELECT migrated, quarantined, total, finished_at IS NOT NULL
FROM whs_legacy.progress WHERE phase = %s

-- name: batch_functions_missing
-- Whether the schema was installed by an earlier version, without this one's batch functions.
SELECT to_regprocedure('whs_legacy.backfill_submissions_v2(uuid, integer)') IS NULL

-- name: analyze_tasks
-- The tasks' statistics, with the columns expand added.
ANALYZE public.tasks

-- name: analyze_submissions
-- The submissions' statistics, with the columns expand added.
ANALYZE public.submissions

-- name: analyze_backfilled
-- What the backfill grew or rewrote, analysed once it is done: a server whose autovacuum is off
-- or behind would otherwise plan the new read path with the statistics taken before it.
ANALYZE public.questions, public.tasks, public.submissions, public.response_consensus,
        public.response_quality_metrics

-- name: pending_validations
-- The constraints added NOT VALID that the backfill has yet to validate.
SELECT name, statement FROM whs_legacy.validations WHERE validated_at IS NULL
ORDER BY name

-- name: validated
-- Records a constraint's validation.
UPDATE whs_legacy.validations SET validated_at = CURRENT_TIMESTAMP
WHERE name = %s

-- name: backfill_settings
-- The backfill yields to the application: a lock it cannot get within 50 ms gives up, and the
-- batch is retried, so that no application query waits long behind it (and none is chosen as a
-- deadlock victim: the backfill always gives up first).
-- A batch is idempotent and commits with its progress row: losing the last ones in a crash only
-- means doing them again, so they need not wait for their commit to reach the disk.
-- Its consensus events are not notified either (see whs_legacy.defer_events_v1): a notifying
-- commit would queue behind the old application's (measured: its COMMIT ran into lock_timeout
-- about 100 times a minute at 10^6 rows, each time redoing its work).
SET LOCAL lock_timeout = '50ms'; SET LOCAL synchronous_commit = off;
SET LOCAL whstudio.defer_events = silent

-- name: load_auto_explain
-- The module that logs executed plans (superuser only).
LOAD 'auto_explain'

-- name: explain_batch
-- The executed plan of every statement of the batch, sent as a notice.
SET LOCAL auto_explain.log_min_duration = 0;
SET LOCAL auto_explain.log_analyze = on;
SET LOCAL auto_explain.log_buffers = on;
SET LOCAL auto_explain.log_nested_statements = on;
SET LOCAL auto_explain.log_level = notice

-- name: drain
-- Makes and recomputes the consensus of up to that many queued tasks; returns how many.
SELECT whs_legacy.drain_consensus_v1(%s)

-- name: resume_after
-- Where the phase's next batch starts; locks the progress row for the batch.
SELECT last_id FROM whs_legacy.progress WHERE phase = %s FOR UPDATE

-- name: batch
-- One batch of the phase's batch function (composed in).
SELECT * FROM whs_legacy.{function}(%s, %s)

-- name: advance
-- The phase's progress after a batch; it finished when the batch saw no row.
UPDATE whs_legacy.progress SET last_id = coalesce(%(last)s, last_id),
migrated = migrated + %(m)s, quarantined = quarantined + %(q)s,
updated_at = CURRENT_TIMESTAMP,
finished_at = CASE WHEN %(seen)s = 0 THEN CURRENT_TIMESTAMP END WHERE phase = %(phase)s

-- name: switch
-- Points the application's reads at the old or the new structure.
UPDATE whs_legacy.state SET read_path = %s, updated_at = now()

-- name: read_old_path
-- Points the application's reads at the old structure; a row when they were not already.
UPDATE whs_legacy.state SET read_path = 'old' WHERE read_path <> 'old' RETURNING 1

-- name: drop_view
-- A view the migration added.
DROP VIEW IF EXISTS public.{name} CASCADE

-- name: drop_column
-- A column the migration added, in alter_table's list of changes.
DROP COLUMN IF EXISTS {column}

-- name: drop_table
-- A table the migration added.
DROP TABLE IF EXISTS public.{name} CASCADE

-- name: drop_function
-- The function's signature is composed in as written, name(arguments).
DROP FUNCTION IF EXISTS public.{signature} CASCADE

-- name: drop_sequence
-- A sequence the migration added.
DROP SEQUENCE IF EXISTS public.{name} CASCADE

-- name: progress
-- Every backfill phase's progress, tasks first.
SELECT phase, migrated, quarantined, total, finished_at FROM whs_legacy.progress
ORDER BY phase DESC
