-- The proof of zero loss (whstudio.legacy.verify): checksums, coverage, the rows the JSON
-- comparison reads, consensus.

-- name: checksum_differences
-- How many of a table's baseline rows vanished, how many rows appeared and how many changed,
-- leaving out rows the change log has (composed in: the table's name as a literal, its digest
-- query, and the logged expression that finds a row's entry in the log).
SELECT count(*) FILTER (WHERE cur.id IS NULL),
       count(*) FILTER (WHERE b.row_id IS NULL),
       count(*) FILTER (WHERE cur.digest <> b.digest)
  FROM (SELECT row_id, digest FROM whs_legacy.checksums WHERE table_name = {table}) b
  FULL JOIN ({digests}) cur ON cur.id = b.row_id
 WHERE NOT EXISTS (SELECT FROM whs_legacy.changes c WHERE c.table_name = {table}
                   AND c.row_id = {logged})

-- name: logged_by_key
-- A keyed row's entry in the change log: its key.
coalesce(b.row_id, cur.id)

-- name: logged_by_row
-- A row of a table without a key: its whole row's md5, so a logged row counts for every copy.
substring(coalesce(b.row_id, cur.id) from '^row:[0-9a-f]{32}')

-- name: normalised
-- Rows migrated with a field read differently from the legacy document, per table.
SELECT table_name, count(*) FROM whs_legacy.normalised GROUP BY 1

-- name: migrated_tasks
-- Every migrated task with its question, read back to be compared in Python.
SELECT t.id, t.task_type, t.instructions, q.question_type, q.content,
       q.gold_standard
  FROM public.tasks t JOIN public.questions q ON q.id = t.question_id

-- name: migrated_submissions
-- Every migrated answer with the question it answered, which it keeps also after the old
-- application edited the task's instructions (the task then points at another question).
SELECT s.id, s.submission_data, q.question_type, s.chosen_response, s.confidence,
       s.explanation, s.time_spent_seconds, s.payload, s.reasons
  FROM public.submissions s JOIN public.questions q ON q.id = s.question_id
 WHERE s.chosen_response IS NOT NULL OR s.payload IS NOT NULL

-- name: unmigrated_tasks
-- Tasks neither migrated nor quarantined.
SELECT count(*) FROM public.tasks t WHERE t.question_id IS NULL AND NOT EXISTS
 (SELECT FROM whs_legacy.quarantine z WHERE z.table_name = 'tasks'
   AND z.row_id = t.id)

-- name: unmigrated_submissions
-- Answers neither migrated nor quarantined.
SELECT count(*) FROM public.submissions s
 WHERE s.chosen_response IS NULL AND s.payload IS NULL AND NOT EXISTS
 (SELECT FROM whs_legacy.quarantine z WHERE z.table_name = 'submissions'
   AND z.row_id = s.id)

-- name: queued_consensus
-- Tasks whose consensus is still queued to be made or recomputed.
SELECT count(*) FROM whs_legacy.consensus_queue

-- name: quarantined
-- Rows the backfill quarantined, per table.
SELECT table_name, count(*) FROM whs_legacy.quarantine GROUP BY 1

-- name: missing_consensus
-- Migrated tasks without a consensus row.
SELECT count(*) FROM public.tasks t WHERE t.question_id IS NOT NULL AND NOT EXISTS
 (SELECT FROM public.response_consensus c WHERE c.task_id = t.id)

-- name: consensus_drift
-- Consensus rows that differ from a recomputation from the answers.
SELECT count(*) FROM public.response_consensus c,
 LATERAL public.consensus_recompute_v1(c.task_id) r
 WHERE (c.count_a, c.count_b, c.count_tie, c.total_responses, c.confidence_sum,
        c.time_spent_sum, c.agreement_percentage, c.final_answer,
        c.consensus_reached, c.remaining)
 IS DISTINCT FROM (r.count_a, r.count_b, r.count_tie, r.total_responses,
        r.confidence_sum, r.time_spent_sum, r.agreement_percentage, r.final_answer,
        r.consensus_reached, r.remaining)
