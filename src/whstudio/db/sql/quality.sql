-- name: stats
SELECT u.id AS user_id, u.username, u.role, u.is_active, u.reputation_score, u.reputation_weight,
       a.answers, a.gold_answered, a.gold_correct, a.gold_fail_streak, a.evaluated, a.agreed,
       a.sided, a.picked_left, a.picked_a, a.picked_b, a.timed, a.time_sum, a.fast,
       a.ds_accuracy, a.ds_labels, a.accuracy, a.accuracy_low, a.accuracy_high, a.flags,
       a.updated_at
  FROM users u
  LEFT JOIN annotator_stats a ON a.user_id = u.id
 WHERE u.id = %(user_id)s;

-- name: skill
SELECT method, classes, confusion, accuracy, labels, run_id, computed_at
  FROM annotator_skill WHERE user_id = %(user_id)s;

-- name: median_time
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY time_spent_seconds) AS median
  FROM response_quality_metrics
 WHERE user_id = %(user_id)s AND counted AND time_spent_seconds IS NOT NULL;

-- name: history
SELECT id, kind, delta, score, reason, task_id, submission_id, created_at
  FROM reputation_events
 WHERE user_id = %(user_id)s AND (%(before)s::bigint IS NULL OR id < %(before)s::bigint)
 ORDER BY id DESC
 LIMIT %(limit)s;

-- name: answers
-- One annotator's answers (every version) with their quality marks, newest first; with what
-- the dataset lets its annotators see (reveal, gold_feedback) and the task's state.
SELECT s.id AS submission_id, s.task_id, t.title AS task_title, q.question_type,
       q.source_dataset, s.response_version, s.is_latest, s.informed, s.chosen_response,
       s.shown_order, s.confidence, s.time_spent_seconds, s.created_at, m.gold_correct,
       m.gold_source, m.agreed, m.agreement_with_consensus, m.agreement_now, m.others_now,
       m.others_agreeing_now, m.is_outlier, m.outlier_reasons, m.flagged_for_review,
       coalesce(p.reveal, 'after_answer') AS reveal, coalesce(p.gold_feedback, false)
       AS gold_feedback, c.remaining, t.status AS task_status
  FROM submissions s
  JOIN tasks t ON t.id = s.task_id
  JOIN questions q ON q.id = s.question_id
  JOIN response_consensus c ON c.task_id = s.task_id
  LEFT JOIN dataset_policies p ON p.source_dataset = q.source_dataset
  LEFT JOIN LATERAL (
        SELECT r.gold_correct, r.gold_source, r.agreed, qm.agreement_with_consensus,
               r.agreement_now, r.others_now, r.others_agreeing_now, r.is_outlier,
               r.outlier_reasons, r.flagged_for_review
          FROM response_quality_current r
          JOIN response_quality_metrics qm ON qm.submission_id = r.submission_id
         WHERE r.submission_id = s.id) m ON true
 WHERE s.user_id = %(user_id)s
   AND (%(before_at)s::timestamptz IS NULL
        OR (s.created_at, s.id) < (%(before_at)s::timestamptz, %(before_id)s::uuid))
 ORDER BY s.created_at DESC, s.id DESC
 LIMIT %(limit)s;

-- name: as_of_today
-- One annotator's reputation as they may read it: at the start of today (UTC).
SELECT date_trunc('day', CURRENT_TIMESTAMP AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS as_of,
       r.score, r.weight
  FROM reputation_as_of(%(user_id)s,
                        date_trunc('day', CURRENT_TIMESTAMP AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')
       AS r;

-- name: daily_history
-- One annotator's reputation at the end of each day (UTC) it changed, before today, newest
-- first: what they may read of its history (no event, no time of day, no task).
SELECT day, score
  FROM (SELECT DISTINCT ON ((e.created_at AT TIME ZONE 'UTC')::date)
               (e.created_at AT TIME ZONE 'UTC')::date AS day, e.score
          FROM reputation_events e
         WHERE e.user_id = %(user_id)s
           AND e.created_at < date_trunc('day', CURRENT_TIMESTAMP AT TIME ZONE 'UTC')
                              AT TIME ZONE 'UTC'
         ORDER BY (e.created_at AT TIME ZONE 'UTC')::date DESC, e.id DESC) d
 ORDER BY day DESC
 LIMIT %(limit)s;

-- name: leaderboard_as_of_today
-- Annotators by reputation as annotators may read it (at the start of today, UTC).
SELECT u.username, r.score, coalesce(a.answers, 0) AS answers
  FROM users u
  LEFT JOIN annotator_stats a ON a.user_id = u.id
 CROSS JOIN LATERAL reputation_as_of(
        u.id, date_trunc('day', CURRENT_TIMESTAMP AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') AS r
 WHERE u.is_active AND u.role = 'annotator' AND coalesce(a.answers, 0) >= %(min_answers)s
 ORDER BY r.score DESC, coalesce(a.answers, 0) DESC, u.username
 LIMIT %(limit)s;

-- name: leaderboard
SELECT u.id AS user_id, u.username, u.reputation_score, u.reputation_weight,
       coalesce(a.answers, 0) AS answers, coalesce(a.gold_answered, 0) AS gold_answered,
       coalesce(a.gold_correct, 0) AS gold_correct, coalesce(a.evaluated, 0) AS evaluated,
       coalesce(a.agreed, 0) AS agreed, a.accuracy, a.accuracy_low, a.accuracy_high,
       a.ds_accuracy, coalesce(a.flags, '{}') AS flags
  FROM users u
  LEFT JOIN annotator_stats a ON a.user_id = u.id
 WHERE u.is_active AND u.role = 'annotator' AND coalesce(a.answers, 0) >= %(min_answers)s
 ORDER BY u.reputation_score DESC, coalesce(a.answers, 0) DESC, u.username
 LIMIT %(limit)s;

-- name: stats_drift
-- Annotators whose kept counters differ from the sums over their quality rows.
WITH truth AS (
    SELECT m.user_id,
           count(*) AS answers,
           count(m.gold_correct) AS gold_answered,
           count(*) FILTER (WHERE m.gold_correct) AS gold_correct,
           count(m.agreed) AS evaluated,
           count(*) FILTER (WHERE m.agreed) AS agreed,
           count(m.picked_left) AS sided,
           count(*) FILTER (WHERE m.picked_left) AS picked_left,
           count(*) FILTER (WHERE m.choice = 'A') AS picked_a,
           count(*) FILTER (WHERE m.choice = 'B') AS picked_b,
           count(m.time_spent_seconds) AS timed,
           coalesce(sum(m.time_spent_seconds), 0) AS time_sum,
           count(*) FILTER (WHERE 'fast' = ANY (m.outlier_reasons)) AS fast
      FROM response_quality_metrics m
     WHERE m.counted
     GROUP BY m.user_id
)
SELECT a.user_id
  FROM annotator_stats a
  FULL JOIN truth t ON t.user_id = a.user_id
 WHERE (coalesce(a.answers, 0), coalesce(a.gold_answered, 0), coalesce(a.gold_correct, 0),
        coalesce(a.evaluated, 0), coalesce(a.agreed, 0), coalesce(a.sided, 0),
        coalesce(a.picked_left, 0), coalesce(a.picked_a, 0), coalesce(a.picked_b, 0),
        coalesce(a.timed, 0), coalesce(a.time_sum, 0), coalesce(a.fast, 0))
       IS DISTINCT FROM
       (coalesce(t.answers, 0), coalesce(t.gold_answered, 0), coalesce(t.gold_correct, 0),
        coalesce(t.evaluated, 0), coalesce(t.agreed, 0), coalesce(t.sided, 0),
        coalesce(t.picked_left, 0), coalesce(t.picked_a, 0), coalesce(t.picked_b, 0),
        coalesce(t.timed, 0), coalesce(t.time_sum, 0), coalesce(t.fast, 0));

-- name: rejudge
-- Judge every latest answer again against its task's state now: gold (adjudication first)
-- on the first version for question gold, else the others' plurality once the task has all
-- its answers. Only rows whose verdict changes are written (their trigger moves the counters).
WITH judged AS (
    SELECT m.submission_id, g.source,
           CASE WHEN g.source = 'gold'
                THEN coalesce((SELECT answer_matches(s1, g.gold) FROM submissions s1
                                WHERE s1.task_id = s.task_id AND s1.user_id = s.user_id
                                ORDER BY s1.response_version LIMIT 1),
                              answer_matches(s, g.gold))
                ELSE answer_matches(s, g.gold) END AS verdict,
           c.remaining, c.count_a, c.count_b, c.count_tie, m.choice
      FROM response_quality_metrics m
      JOIN submissions s ON s.id = m.submission_id
      JOIN response_consensus c ON c.task_id = m.task_id
      CROSS JOIN LATERAL task_gold(m.task_id) g
     WHERE m.counted
), verdicts AS (
    SELECT j.submission_id, j.verdict AS gold_correct,
           CASE WHEN j.verdict IS NOT NULL THEN j.source END AS gold_source,
           CASE WHEN j.verdict IS NULL AND j.choice IS NOT NULL AND j.remaining = 0
                THEN v.agreed END AS agreed,
           CASE WHEN j.verdict IS NULL AND j.choice IS NOT NULL AND j.remaining = 0
                THEN v.others_agreeing END AS others_agreeing,
           CASE WHEN j.verdict IS NULL AND j.choice IS NOT NULL AND j.remaining = 0
                THEN v.others_total END AS others_total
      FROM judged j
      LEFT JOIN LATERAL loo_verdict(j.choice, j.count_a, j.count_b, j.count_tie) v
             ON j.choice IS NOT NULL
)
UPDATE response_quality_metrics m
   SET gold_correct = x.gold_correct, gold_source = x.gold_source, agreed = x.agreed,
       others_agreeing = x.others_agreeing, others_total = x.others_total,
       agreement_with_consensus = CASE WHEN x.others_total > 0
           THEN round(100.0 * x.others_agreeing / x.others_total, 2) END,
       computed_at = CURRENT_TIMESTAMP
  FROM verdicts x
 WHERE m.submission_id = x.submission_id
   AND (m.gold_correct, m.gold_source, m.agreed, m.others_agreeing, m.others_total)
       IS DISTINCT FROM
       (x.gold_correct, x.gold_source, x.agreed, x.others_agreeing, x.others_total);

-- name: lock_all_stats
SELECT user_id FROM annotator_stats ORDER BY user_id FOR NO KEY UPDATE;

-- name: clear_skill
DELETE FROM annotator_skill WHERE method = %(method)s;

-- name: clear_ds
UPDATE annotator_stats SET ds_accuracy = NULL, ds_labels = NULL
 WHERE ds_accuracy IS NOT NULL OR ds_labels IS NOT NULL;

-- name: store_skill
INSERT INTO annotator_skill (user_id, method, classes, confusion, accuracy, labels, run_id,
                             expected_correct)
SELECT x.user_id, %(method)s, %(classes)s, x.confusion, x.accuracy, x.labels, %(run_id)s,
       x.expected_correct
  FROM jsonb_to_recordset(%(rows)s) AS x(user_id uuid, confusion jsonb, accuracy double precision,
                                         labels integer, expected_correct double precision)
  JOIN users u ON u.id = x.user_id
ON CONFLICT (user_id, method) DO UPDATE
   SET classes = excluded.classes, confusion = excluded.confusion, accuracy = excluded.accuracy,
       labels = excluded.labels, run_id = excluded.run_id,
       expected_correct = excluded.expected_correct, computed_at = CURRENT_TIMESTAMP;

-- name: stats_from_skill
-- The reputation's Dawid-Skene evidence: the share of an annotator's answers the fit expects
-- right (its posterior over each task's truth), else the skill's expected accuracy.
INSERT INTO annotator_stats (user_id, ds_accuracy, ds_labels)
SELECT user_id,
       least(1, greatest(0, coalesce(expected_correct / nullif(labels, 0), accuracy))), labels
  FROM annotator_skill WHERE method = 'dawid_skene'
ON CONFLICT (user_id) DO UPDATE
   SET ds_accuracy = excluded.ds_accuracy, ds_labels = excluded.ds_labels;

-- name: update_all_reputations
SELECT reputation_update_v1(a.user_id, %(kind)s,
         CASE WHEN %(kind)s = 'dawid_skene' AND a.ds_accuracy IS NOT NULL
              THEN format('Dawid–Skene estimate: %%s%%%% accurate over %%s answers',
                          round((100 * a.ds_accuracy)::numeric, 1), a.ds_labels)
              WHEN %(kind)s = 'refresh' THEN 'counters recomputed' END,
         NULL, NULL)
  FROM annotator_stats a
 ORDER BY a.user_id;

-- name: reweight
-- Give every latest answer its annotator's current weight; the consensus trigger moves the
-- weighted counts of each task whose answers change.
UPDATE submissions s
   SET vote_weight = least(u.reputation_weight, 100)::numeric(9, 6)
  FROM users u
 WHERE u.id = s.user_id AND s.is_latest
   AND s.vote_weight <> least(u.reputation_weight, 100)::numeric(9, 6);

-- name: user_by_name
SELECT id FROM users WHERE username = %(username)s;
