-- name: preference_verdicts
-- Each pairwise task's verdict (a part of the two statements below, included by both, so that
-- what the export leaves out is exactly what it does not write): a reviewer's adjudication where
-- there is one, else the one `method` picks: the real-time majority, or a stored batch run
-- (weighted, dawid_skene). A real-time "tie" verdict is a tie plurality that meets the task's
-- rule (the live consensus never names a tie as winner).
verdicts AS (
    SELECT c.task_id,
           a.task_id IS NOT NULL AS adjudicated,
           a.created_at AS adjudicated_at,
           CASE
               WHEN a.task_id IS NOT NULL THEN a.final_answer ->> 'chosen_response'
               WHEN %(method)s = 'majority' AND c.consensus_reached
                   THEN c.final_answer ->> 'chosen_response'
               WHEN %(method)s <> 'majority' AND b.final_answer ? 'chosen_response'
                   THEN b.final_answer ->> 'chosen_response'
               WHEN c.count_tie > greatest(c.count_a, c.count_b)
                    AND c.total_responses >= t.consensus_threshold
                    AND c.agreement_percentage >= t.min_agreement_percentage
                   THEN 'tie'
           END AS winner
      FROM response_consensus c
      JOIN tasks t ON t.id = c.task_id
      LEFT JOIN consensus_batch_results b ON b.task_id = c.task_id AND b.method = %(method)s
      LEFT JOIN task_adjudications a ON a.task_id = c.task_id
     WHERE c.question_type = 'pairwise_ab'
)

-- name: preferences
-- One row per pairwise task whose verdict names a winner (or, with include_ties, settled on
-- "tie"), in canonical A/B order turned into chosen / rejected.
WITH
-- include: export.preference_verdicts
SELECT t.id AS task_id,
       q.id AS question_id,
       q.source_dataset,
       q.source_ref,
       q.content ->> 'prompt' AS prompt,
       CASE WHEN v.winner = 'B' THEN q.content ->> 'optionB' ELSE q.content ->> 'optionA' END
           AS chosen,
       CASE WHEN v.winner = 'B' THEN q.content ->> 'optionA' ELSE q.content ->> 'optionB' END
           AS rejected,
       v.winner = 'tie' AS tie,
       CASE WHEN v.winner = 'B' THEN (q.metadata || t.metadata) ->> 'model_b'
            ELSE (q.metadata || t.metadata) ->> 'model_a' END AS chosen_model,
       CASE WHEN v.winner = 'B' THEN (q.metadata || t.metadata) ->> 'model_a'
            ELSE (q.metadata || t.metadata) ->> 'model_b' END AS rejected_model,
       v.winner,
       -- the turn an imported item judges (MT-Bench: 1 or 2), and a multi-turn item's messages
       CASE WHEN (q.metadata || t.metadata) ->> 'turn' ~ '^[0-9]{1,6}$'
            THEN ((q.metadata || t.metadata) ->> 'turn')::integer END AS turn,
       q.content -> 'conversation' AS conversation,
       c.agreement_percentage::float8 AS agreement_percentage,
       c.weighted_agreement_percentage::float8 AS weighted_agreement_percentage,
       c.total_responses AS num_answers,
       c.count_a, c.count_b, c.count_tie,
       CASE WHEN c.confidence_count > 0
            THEN round(c.confidence_sum::numeric / c.confidence_count, 3)::float8 END
           AS mean_confidence,
       CASE WHEN v.adjudicated THEN 'adjudicated' ELSE %(method)s::text END AS method,
       coalesce(v.adjudicated_at, c.reached_at, c.updated_at) AS decided_at
  FROM verdicts v
  JOIN response_consensus c ON c.task_id = v.task_id
  JOIN tasks t ON t.id = v.task_id
  JOIN questions q ON q.id = t.question_id
 WHERE (v.winner IN ('A', 'B') OR (%(include_ties)s AND v.winner = 'tie'))
   AND (%(dataset)s::text IS NULL OR q.source_dataset = %(dataset)s)
   AND (v.adjudicated OR c.agreement_percentage >= %(min_agreement)s)
   AND c.total_responses >= %(min_answers)s
   AND (%(since)s::timestamptz IS NULL
        OR coalesce(v.adjudicated_at, c.reached_at, c.updated_at) >= %(since)s)
   AND (%(until)s::timestamptz IS NULL
        OR coalesce(v.adjudicated_at, c.reached_at, c.updated_at) < %(until)s)
 ORDER BY t.created_at, t.id;

-- name: preferences_left_out
-- The pairwise tasks of the export's dataset that it does not write, by reason (every task the
-- preferences statement leaves out has exactly one): decided outside the time window; no
-- answers, too few for the task's rule, or no winner yet (no consensus; no batch winner);
-- settled on a tie without include_ties; fewer answers than min_answers; agreement below
-- min_agreement (an adjudication needs none).
WITH
-- include: export.preference_verdicts
, judged AS (
    SELECT CASE
               WHEN NOT ((%(since)s::timestamptz IS NULL
                          OR coalesce(v.adjudicated_at, c.reached_at, c.updated_at)
                             >= %(since)s)
                         AND (%(until)s::timestamptz IS NULL
                              OR coalesce(v.adjudicated_at, c.reached_at, c.updated_at)
                                 < %(until)s))
                   THEN 'decided outside the time window'
               WHEN v.winner IS NULL AND c.total_responses = 0 THEN 'no answers'
               WHEN v.winner IS NULL AND c.total_responses < t.consensus_threshold
                   THEN 'too few answers for the task''s rule'
               WHEN v.winner IS NULL THEN 'no consensus'
               WHEN v.winner = 'tie' AND NOT %(include_ties)s THEN 'settled on a tie'
               WHEN c.total_responses < %(min_answers)s THEN 'fewer answers than min_answers'
               WHEN NOT v.adjudicated
                    AND NOT coalesce(c.agreement_percentage >= %(min_agreement)s, false)
                   THEN 'agreement below min_agreement'
           END AS reason
      FROM verdicts v
      JOIN response_consensus c ON c.task_id = v.task_id
      JOIN tasks t ON t.id = v.task_id
      JOIN questions q ON q.id = t.question_id
     WHERE (%(dataset)s::text IS NULL OR q.source_dataset = %(dataset)s)
)
SELECT reason, count(*)::integer AS tasks
  FROM judged
 WHERE reason IS NOT NULL
 GROUP BY reason
 ORDER BY tasks DESC, reason;

-- name: responses
-- Every stored answer, revisions included. The annotator is a salted SHA-256 of their id unless
-- reveal is asked for, so the same person keeps the same label across exports with one salt.
SELECT s.id AS submission_id,
       s.task_id,
       s.question_id,
       q.question_type,
       q.source_dataset,
       q.source_ref,
       CASE WHEN %(reveal)s THEN s.user_id::text
            ELSE left(encode(sha256(convert_to(%(salt)s || ':' || s.user_id::text, 'UTF8')),
                             'hex'), 20) END AS annotator,
       CASE WHEN %(reveal)s THEN u.username END AS username,
       s.response_version,
       s.is_latest,
       s.chosen_response,
       s.payload::text AS payload,
       s.confidence::integer AS confidence,
       s.explanation,
       s.time_spent_seconds,
       s.shown_order,
       s.vote_weight::float8 AS vote_weight,
       s.in_consensus,
       s.source_label,
       u.kind AS annotator_kind,
       s.informed,
       s.guidelines_version,
       s.reasons,
       s.created_at
  FROM submissions s
  JOIN questions q ON q.id = s.question_id
  JOIN users u ON u.id = s.user_id
 WHERE (%(dataset)s::text IS NULL OR q.source_dataset = %(dataset)s)
   AND (%(since)s::timestamptz IS NULL OR s.created_at >= %(since)s)
   AND (%(until)s::timestamptz IS NULL OR s.created_at < %(until)s)
   AND (%(latest_only)s = false OR s.is_latest)
 ORDER BY s.created_at, s.id;

-- name: annotator_quality
-- Per annotator: sums over response_quality_metrics (one row per scored latest answer), the
-- reputation estimate kept in annotator_stats (revision 0005) and the user row.
SELECT CASE WHEN %(reveal)s THEN u.id::text
            ELSE left(encode(sha256(convert_to(%(salt)s || ':' || u.id::text, 'UTF8')),
                             'hex'), 20) END AS annotator,
       CASE WHEN %(reveal)s THEN u.username END AS username,
       u.role,
       u.reputation_score,
       u.reputation_weight::float8 AS reputation_weight,
       count(s.id)::integer AS answers,
       count(m.submission_id)::integer AS scored_answers,
       count(m.gold_correct)::integer AS gold_checks,
       count(*) FILTER (WHERE m.gold_correct)::integer AS gold_correct,
       CASE WHEN count(m.gold_correct) > 0
            THEN (count(*) FILTER (WHERE m.gold_correct))::float8 / count(m.gold_correct) END
           AS gold_accuracy,
       avg(m.agreement_with_consensus)::float8 AS mean_agreement_with_consensus,
       count(*) FILTER (WHERE m.is_outlier)::integer AS outliers,
       count(*) FILTER (WHERE m.flagged_for_review)::integer AS flagged_for_review,
       avg(s.time_spent_seconds)::float8 AS mean_time_spent_seconds,
       min(st.accuracy) AS accuracy,
       min(st.accuracy_low) AS accuracy_low,
       min(st.accuracy_high) AS accuracy_high,
       CASE WHEN min(st.evaluated) > 0 THEN min(st.agreed)::float8 / min(st.evaluated) END
           AS agreement_rate,
       min(st.ds_accuracy) AS dawid_skene_accuracy,
       coalesce(min(st.flags), '{}') AS flags
  FROM users u
  JOIN submissions s ON s.user_id = u.id AND s.is_latest
  LEFT JOIN response_quality_metrics m ON m.submission_id = s.id
  LEFT JOIN annotator_stats st ON st.user_id = u.id
 GROUP BY u.id
 ORDER BY count(s.id) DESC, u.id;
