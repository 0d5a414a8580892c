-- Batch aggregation (whstudio.domain.batch): numbering tables, the answer loads in array_send
-- form (read through a server-side cursor, one value at a time), the same loads for a read
-- replica (numbering inside the statement: a hot standby has no temporary tables), and the
-- store of a method's results from the binary COPY staged in batch_in.
-- Answers travel packed in one int8: task << 32 | annotator << 2 | label, in arrays of the
-- answers of 2^16 consecutive tasks (batch._WORKER_BITS and batch._CHUNK_BITS say the same).

-- name: drop_maps
DROP TABLE IF EXISTS pg_temp.batch_tasks, pg_temp.batch_users;

-- name: task_map
-- Tasks and annotators numbered 0.. in uuid order, for the session's transaction only.
CREATE TEMP TABLE batch_tasks AS
 SELECT id, (row_number() OVER (ORDER BY id) - 1)::int AS idx FROM tasks;

-- name: user_map
CREATE TEMP TABLE batch_users AS
 SELECT id, (row_number() OVER (ORDER BY id) - 1)::int AS idx,
        coalesce(reputation_weight, 1)::float8 AS weight FROM users;

-- name: analyze_maps
ANALYZE batch_tasks, batch_users;

-- name: user_count
SELECT count(*) FROM batch_users;

-- name: task_count
SELECT count(*) FROM batch_tasks;

-- name: labels
SELECT array_send(array_agg((t.idx::int8 << 32) | (u.idx::int8 << 2)
                  | CASE s.chosen_response WHEN 'A' THEN 0 WHEN 'B' THEN 1 ELSE 2 END))
  FROM submissions s
  JOIN batch_tasks t ON t.id = s.task_id
  JOIN batch_users u ON u.id = s.user_id
 WHERE s.is_latest AND s.in_consensus AND s.chosen_response IS NOT NULL
 GROUP BY t.idx >> 16;

-- name: labels_of
-- The same answers of one dataset's tasks, or of given tasks (either or both NULL: no limit).
-- PostgreSQL plans the statement with the values given, so a NULL's condition costs nothing.
SELECT array_send(array_agg((t.idx::int8 << 32) | (u.idx::int8 << 2)
                  | CASE s.chosen_response WHEN 'A' THEN 0 WHEN 'B' THEN 1 ELSE 2 END))
  FROM submissions s
  JOIN batch_tasks t ON t.id = s.task_id
  JOIN batch_users u ON u.id = s.user_id
 WHERE s.is_latest AND s.in_consensus AND s.chosen_response IS NOT NULL
   AND (%(dataset)s::text IS NULL
        OR s.task_id IN (SELECT c.task_id FROM response_consensus c
                          WHERE c.source_dataset = %(dataset)s::text))
   AND (%(task_ids)s::uuid[] IS NULL OR s.task_id = ANY (%(task_ids)s::uuid[]))
 GROUP BY t.idx >> 16;

-- name: task_ids
SELECT array_send(array_agg(idx)), array_send(array_agg(id)) FROM batch_tasks;

-- name: user_ids
SELECT array_send(array_agg(idx)), array_send(array_agg(id)) FROM batch_users;

-- name: weights
-- Each annotator's weight as it stands now (a Dawid–Skene run stored earlier in the same
-- transaction has moved it), not as it was when the annotators were numbered.
SELECT array_send(array_agg(b.idx)), array_send(array_agg(coalesce(u.reputation_weight, 1)::float8))
  FROM batch_users b JOIN users u ON u.id = b.id;

-- name: realtime
-- The real-time winner of every task that has one: task << 1 | B, in arrays of 2^16 tasks.
SELECT array_send(array_agg((t.idx::int8 << 1)
                  | CASE c.final_answer ->> 'chosen_response' WHEN 'B' THEN 1 ELSE 0 END))
  FROM response_consensus c
  JOIN batch_tasks t ON t.id = c.task_id
 WHERE c.final_answer ->> 'chosen_response' IN ('A', 'B')
 GROUP BY t.idx >> 16;

-- name: read_snapshot
-- The read loads' statements see one snapshot, so that they number alike.
SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY;

-- name: read_user_ids
SELECT array_send(array_agg(idx)), array_send(array_agg(id))
  FROM (SELECT id, (row_number() OVER (ORDER BY id) - 1)::int AS idx FROM users) u;

-- name: read_labels_of
-- batch.labels_of with the numbering made in the statement (dataset and task_ids NULL: every
-- answer; the statement is planned with the values given, so a NULL's condition costs nothing).
WITH t AS (SELECT id, (row_number() OVER (ORDER BY id) - 1)::int AS idx FROM tasks),
     u AS (SELECT id, (row_number() OVER (ORDER BY id) - 1)::int AS idx FROM users)
SELECT array_send(array_agg((t.idx::int8 << 32) | (u.idx::int8 << 2)
                  | CASE s.chosen_response WHEN 'A' THEN 0 WHEN 'B' THEN 1 ELSE 2 END))
  FROM submissions s
  JOIN t ON t.id = s.task_id
  JOIN u ON u.id = s.user_id
 WHERE s.is_latest AND s.in_consensus AND s.chosen_response IS NOT NULL
   AND (%(dataset)s::text IS NULL
        OR s.task_id IN (SELECT c.task_id FROM response_consensus c
                          WHERE c.source_dataset = %(dataset)s::text))
   AND (%(task_ids)s::uuid[] IS NULL OR s.task_id = ANY (%(task_ids)s::uuid[]))
 GROUP BY t.idx >> 16;

-- name: drop_in
DROP TABLE IF EXISTS pg_temp.batch_in;

-- name: create_in
-- A method's results by task number (batch_tasks gives the task).
CREATE TEMP TABLE batch_in (task_idx int, winner smallint, confidence double precision);

-- name: copy_in
COPY batch_in FROM STDIN (FORMAT binary);

-- name: analyze_in
ANALYZE batch_in;

-- name: lock_results
-- Writers of the table wait until this transaction ends (only the batch module writes it, and
-- a task's deletion cascades to it); readers do not. The row versions found next stay put.
LOCK TABLE consensus_batch_results IN SHARE ROW EXCLUSIVE MODE;

-- name: drop_rows
DROP TABLE IF EXISTS pg_temp.batch_rows;

-- name: stage_rows
-- The method's rows as they stand, in task order: a run writes its rows in that order, so
-- the next one reads the old rows and writes index entries and new rows in storage order.
CREATE TEMP TABLE batch_rows AS
 SELECT r.ctid AS row_tid, s.winner, s.confidence
   FROM consensus_batch_results r
   JOIN batch_tasks t ON t.id = r.task_id
   JOIN batch_in s ON s.task_idx = t.idx
  WHERE r.method = %(method)s ORDER BY r.task_id;

-- name: update_results
UPDATE consensus_batch_results r
   SET final_answer = CASE s.winner WHEN 0 THEN '{"chosen_response": "A"}'::jsonb
                                    WHEN 1 THEN '{"chosen_response": "B"}'::jsonb END,
       confidence = s.confidence, run_id = %(run_id)s,
       computed_at = CURRENT_TIMESTAMP
  FROM batch_rows s
 WHERE r.ctid = s.row_tid;

-- name: insert_results
-- Tasks answered for the first time.
INSERT INTO consensus_batch_results (task_id, method, final_answer, confidence, run_id)
SELECT t.id, %(method)s,
       CASE s.winner WHEN 0 THEN '{"chosen_response": "A"}'::jsonb
                     WHEN 1 THEN '{"chosen_response": "B"}'::jsonb END,
       s.confidence, %(run_id)s
  FROM batch_in s JOIN batch_tasks t ON t.idx = s.task_idx
 WHERE NOT EXISTS (SELECT FROM consensus_batch_results r
                    WHERE r.task_id = t.id AND r.method = %(method)s)
 ORDER BY s.task_idx;

-- name: delete_stale
-- Tasks this run did not see (no answers left) lose the method's earlier result; a run over one
-- dataset only those of that dataset.
DELETE FROM consensus_batch_results r
 WHERE r.method = %(method)s AND r.run_id <> %(run_id)s
   AND (%(dataset)s::text IS NULL
        OR r.task_id IN (SELECT c.task_id FROM response_consensus c
                          WHERE c.source_dataset = %(dataset)s::text));

-- name: drop_rows_after
DROP TABLE pg_temp.batch_rows;
