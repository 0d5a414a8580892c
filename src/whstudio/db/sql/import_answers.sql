-- Statements of the answers import (domain/importing/answers.py).

-- name: tasks
-- The tasks a file's rows name: by id, or by their item's source id within the dataset given.
SELECT t.id, t.allow_tie, q.question_type, q.source_ref, q.source_dataset,
       jsonb_array_length(q.content -> 'options') AS n_options
  FROM tasks t
  JOIN questions q ON q.id = t.question_id
 WHERE t.id = ANY (%(task_ids)s::uuid[])
    OR (q.source_dataset = %(dataset)s::text AND q.source_ref = ANY (%(refs)s::text[]));

-- name: bulk_on
-- The per-answer triggers stand aside for this transaction (revision 0012): the import writes
-- the end state its replay computed. now() is the time every answer without its own gets.
SELECT set_config('whstudio.bulk_answers', 'on', true), now() AS now,
       ln(7.0 / 3.0)::double precision AS ln_prior_odds;

-- name: bulk_off
SELECT set_config('whstudio.bulk_answers', 'off', true);

-- name: lock_tasks
-- The tasks a file answers, their consensus rows locked in one order (an answer sent to one
-- of them meanwhile waits for the import), with their rule, type and gold (as task_gold reads
-- it: the adjudication first, else the question's gold).
SELECT c.task_id AS id, t.question_id, c.question_type,
       jsonb_array_length(q.content -> 'options') AS n, t.status,
       coalesce(t.expires_at <= CURRENT_TIMESTAMP, false) AS expired, t.count_model_votes,
       t.consensus_threshold AS threshold,
       coalesce(a.final_answer, gold_answer(q.question_type, q.gold_standard)) AS gold,
       CASE WHEN a.task_id IS NOT NULL THEN 'adjudication'
            WHEN q.gold_standard IS NOT NULL THEN 'gold' END AS gold_source,
       c.count_a, c.count_b, c.count_tie, c.total_responses AS total,
       c.weight_a, c.weight_b, c.weight_tie, c.confidence_sum, c.confidence_count,
       c.confidence_sum_a, c.confidence_sum_b, c.confidence_sum_tie,
       c.time_spent_sum AS time_sum, c.time_spent_count AS time_count,
       c.ranking_counts, c.ranking_weights, c.remaining, c.consensus_reached AS was_reached
  FROM response_consensus c
  JOIN tasks t ON t.id = c.task_id
  JOIN questions q ON q.id = t.question_id
  LEFT JOIN task_adjudications a ON a.task_id = c.task_id
 WHERE c.task_id = ANY (%(tasks)s::uuid[])
 ORDER BY c.task_id
   FOR NO KEY UPDATE OF c;

-- name: task_answers
-- Every version of the answers already given to those tasks, with their quality rows.
SELECT s.id, s.task_id, s.user_id, s.response_version AS version, s.is_latest,
       s.chosen_response AS chosen, s.payload, s.confidence, s.time_spent_seconds AS time_spent,
       s.in_consensus, s.vote_weight, s.submitter_nullifier AS nullifier,
       m.submission_id IS NOT NULL AS has_quality, m.question_type AS m_question_type,
       m.choice, m.picked_left, m.gold_correct, m.gold_source, m.agreed, m.others_agreeing,
       m.others_total, m.time_spent_seconds AS m_time_spent, m.outlier_reasons, m.counted
  FROM submissions s
  LEFT JOIN response_quality_metrics m ON m.submission_id = s.id
 WHERE s.task_id = ANY (%(tasks)s::uuid[])
 ORDER BY s.task_id, s.user_id, s.response_version;

-- name: lock_users
-- The annotators whose counters and reputation the import may move, locked in one order.
SELECT u.id, u.kind, u.reputation_weight AS weight, u.reputation_score AS score,
       u.nullifier_hash AS nullifier,
       (SELECT e.score FROM reputation_events e WHERE e.user_id = u.id
         ORDER BY e.id DESC LIMIT 1) AS last_score
  FROM users u
 WHERE u.id = ANY (%(users)s::uuid[])
 ORDER BY u.id
   FOR NO KEY UPDATE OF u;

-- name: lock_stats
SELECT a.*
  FROM annotator_stats a
 WHERE a.user_id = ANY (%(users)s::uuid[])
 ORDER BY a.user_id
   FOR NO KEY UPDATE OF a;

-- name: given_keys
-- Rows imported before: the import keys (answers:...) of the file's annotators' answers, read
-- in one pass and matched in the application (a probe of the key index per row took 40 µs).
SELECT s.user_id, s.idempotency_key AS key, s.task_id
  FROM submissions s
 WHERE s.user_id = ANY (%(users)s::uuid[])
   AND s.idempotency_key LIKE 'answers:%%';

-- name: copy_answers
COPY submissions (id, task_id, user_id, question_id, response_version, is_latest,
                  chosen_response, confidence, time_spent_seconds, payload, idempotency_key,
                  submitter_nullifier, created_at, updated_at, vote_weight, in_consensus)
FROM STDIN;

-- name: copy_quality
COPY response_quality_metrics (submission_id, task_id, user_id, question_type, choice,
                               picked_left, gold_correct, gold_source, agreed, others_agreeing,
                               others_total, agreement_with_consensus, time_spent_seconds,
                               is_outlier, outlier_reasons, flagged_for_review, counted,
                               computed_at)
FROM STDIN;

-- name: copy_events
COPY reputation_events (user_id, task_id, submission_id, kind, delta, score, reason)
FROM STDIN;

-- name: moved_in_consensus
-- Model judges' answers a rule change moved in or out of consensus.
UPDATE submissions s
   SET in_consensus = m.in_consensus
  FROM unnest(%(ids)s::uuid[], %(flags)s::boolean[]) AS m(id, in_consensus)
 WHERE s.id = m.id;

-- name: revised
-- Earlier answers the file revised: no longer the latest.
UPDATE submissions SET is_latest = false WHERE id = ANY (%(ids)s::uuid[]);

-- name: staging
-- What the replay moved of rows already there, staged for one statement per table.
CREATE TEMPORARY TABLE import_quality (
    submission_id uuid PRIMARY KEY, agreed boolean, others_agreeing integer,
    others_total integer, counted boolean, judged_now boolean
) ON COMMIT DROP;
CREATE TEMPORARY TABLE import_stats (LIKE annotator_stats INCLUDING DEFAULTS) ON COMMIT DROP;
CREATE TEMPORARY TABLE import_users (
    id uuid PRIMARY KEY, reputation_score integer, reputation_weight double precision
) ON COMMIT DROP;
CREATE TEMPORARY TABLE import_consensus (
    task_id uuid PRIMARY KEY, count_a integer, count_b integer, count_tie integer,
    total_responses integer, weight_a numeric, weight_b numeric, weight_tie numeric,
    confidence_sum integer, confidence_count integer, confidence_sum_a integer,
    confidence_sum_b integer, confidence_sum_tie integer, time_spent_sum bigint,
    time_spent_count integer, ranking_counts integer[], ranking_weights numeric[]
) ON COMMIT DROP;
CREATE TEMPORARY TABLE import_leases (task_id uuid, user_id uuid) ON COMMIT DROP;

-- name: unstage
-- (a second import in the same transaction stages again)
DROP TABLE import_quality, import_stats, import_users, import_consensus, import_leases;

-- name: copy_staged_quality
COPY import_quality FROM STDIN;

-- name: copy_staged_stats
COPY import_stats (user_id, answers, gold_answered, gold_correct, gold_fail_streak, evaluated,
                   agreed, sided, picked_left, picked_a, picked_b, timed, time_sum, fast,
                   ds_accuracy, ds_labels, accuracy, accuracy_low, accuracy_high, flags)
FROM STDIN;

-- name: copy_staged_users
COPY import_users FROM STDIN;

-- name: copy_staged_consensus
COPY import_consensus FROM STDIN;

-- name: copy_staged_leases
COPY import_leases FROM STDIN;

-- name: apply_quality
UPDATE response_quality_metrics m
   SET agreed = x.agreed, others_agreeing = x.others_agreeing, others_total = x.others_total,
       agreement_with_consensus = CASE WHEN x.others_total > 0
           THEN round(100.0 * x.others_agreeing / x.others_total, 2) END,
       counted = x.counted,
       computed_at = CASE WHEN x.judged_now THEN CURRENT_TIMESTAMP ELSE m.computed_at END
  FROM import_quality x
 WHERE m.submission_id = x.submission_id;

-- name: apply_stats
INSERT INTO annotator_stats AS a (
    user_id, answers, gold_answered, gold_correct, gold_fail_streak, evaluated, agreed, sided,
    picked_left, picked_a, picked_b, timed, time_sum, fast, ds_accuracy, ds_labels, accuracy,
    accuracy_low, accuracy_high, flags, updated_at)
SELECT user_id, answers, gold_answered, gold_correct, gold_fail_streak, evaluated, agreed, sided,
       picked_left, picked_a, picked_b, timed, time_sum, fast, ds_accuracy, ds_labels, accuracy,
       accuracy_low, accuracy_high, flags, CURRENT_TIMESTAMP
  FROM import_stats
    ON CONFLICT (user_id) DO UPDATE SET
       answers = excluded.answers, gold_answered = excluded.gold_answered,
       gold_correct = excluded.gold_correct, gold_fail_streak = excluded.gold_fail_streak,
       evaluated = excluded.evaluated, agreed = excluded.agreed, sided = excluded.sided,
       picked_left = excluded.picked_left, picked_a = excluded.picked_a,
       picked_b = excluded.picked_b, timed = excluded.timed, time_sum = excluded.time_sum,
       fast = excluded.fast, accuracy = excluded.accuracy,
       accuracy_low = excluded.accuracy_low, accuracy_high = excluded.accuracy_high,
       flags = excluded.flags, updated_at = CURRENT_TIMESTAMP;

-- name: apply_users
UPDATE users u
   SET reputation_score = x.reputation_score, reputation_weight = x.reputation_weight
  FROM import_users x
 WHERE u.id = x.id;

-- name: count_tasks
-- task_counts (the dashboard's counters) for the tasks the import moved: taken out of their
-- group before the consensus rows change (sign -1), put in their new one after (sign 1): one
-- statement per side, instead of the counters' per-row trigger (each task would update the
-- same few counter rows again, a longer chain of row versions every time).
INSERT INTO task_counts AS k (shard, task_status, question_type, source_dataset,
                              consensus_reached, needs_more, has_gold, n)
SELECT abs(hashtext(c.task_id::text)) %% 16, c.task_status, c.question_type,
       coalesce(c.source_dataset, ''), c.consensus_reached, c.remaining > 0, c.has_gold,
       %(sign)s * count(*)
  FROM response_consensus c
  JOIN import_consensus x ON x.task_id = c.task_id
 GROUP BY 1, 2, 3, 4, 5, 6, 7
 ORDER BY 1, 2, 3, 4, 5, 6, 7
    ON CONFLICT ON CONSTRAINT task_counts_key DO UPDATE SET n = k.n + excluded.n;

-- name: apply_consensus
-- The counts the replay reached, and what the database derives from them (consensus_derive,
-- as consensus_store keeps it): one new version per task. A task that reaches consensus
-- fires its webhook.
UPDATE response_consensus c
   SET count_a = d.count_a, count_b = d.count_b, count_tie = d.count_tie,
       total_responses = d.total_responses, weight_a = d.weight_a, weight_b = d.weight_b,
       weight_tie = d.weight_tie, confidence_sum = d.confidence_sum,
       confidence_count = d.confidence_count, confidence_sum_a = d.confidence_sum_a,
       confidence_sum_b = d.confidence_sum_b, confidence_sum_tie = d.confidence_sum_tie,
       time_spent_sum = d.time_spent_sum, time_spent_count = d.time_spent_count,
       ranking_counts = d.ranking_counts, ranking_weights = d.ranking_weights,
       agreement_percentage = d.agreement_percentage,
       weighted_agreement_percentage = d.weighted_agreement_percentage,
       final_answer = d.final_answer, consensus_reached = d.consensus_reached,
       reached_at = CASE WHEN NOT d.consensus_reached THEN NULL
                         WHEN NOT c.consensus_reached OR c.reached_at IS NULL
                         THEN CURRENT_TIMESTAMP
                         ELSE c.reached_at END,
       remaining = d.remaining, version = nextval('consensus_event_seq'),
       updated_at = CURRENT_TIMESTAMP
  FROM import_consensus x
  JOIN response_consensus rc ON rc.task_id = x.task_id
  JOIN tasks t ON t.id = x.task_id
  JOIN questions q ON q.id = t.question_id
 CROSS JOIN LATERAL consensus_derive(
           jsonb_populate_record(rc, to_jsonb(x)), t.consensus_threshold,
           t.min_agreement_percentage, q.question_type,
           jsonb_array_length(q.content -> 'options')) AS d
 WHERE c.task_id = x.task_id
RETURNING c.task_id, c.version, c.total_responses, c.remaining, c.consensus_reached,
          c.agreement_percentage, c.final_answer, c.count_a, c.count_b, c.count_tie;

-- name: notify
-- One event per task the import moved, as a settled answer sends (listeners' SSE).
SELECT pg_notify('whstudio_consensus', e::text)
  FROM jsonb_array_elements(%(events)s::jsonb) AS e;

-- name: apply_leases
DELETE FROM task_leases l USING import_leases x
 WHERE l.task_id = x.task_id AND l.user_id = x.user_id;

-- name: listening
-- Whether a webhook listens for new answers: the import sends its answers' ids (a million in a
-- large file) only then.
SELECT EXISTS (SELECT 1 FROM webhooks w
                WHERE w.is_active AND 'response.created' = ANY (w.events)) AS listening;

-- name: answer_webhooks
-- response.created for each new answer, in the order given, where a webhook listens for it.
SELECT webhook_enqueue_v1('response.created', response_created_payload(s))
  FROM unnest(%(ids)s::uuid[]) WITH ORDINALITY AS n(id, k)
  JOIN submissions s ON s.id = n.id
 WHERE EXISTS (SELECT 1 FROM webhooks w
                WHERE w.is_active AND 'response.created' = ANY (w.events))
 ORDER BY n.k;
