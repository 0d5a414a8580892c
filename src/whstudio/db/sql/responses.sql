-- name: history
SELECT id, task_id, user_id, response_version, is_latest, informed, chosen_response,
       confidence, explanation, time_spent_seconds, shown_order, payload, guidelines_version,
       reasons, created_at
  FROM submissions
 WHERE task_id = %(task_id)s AND user_id = %(user_id)s
 ORDER BY response_version DESC;

-- name: answered_order
-- Whether the user answered the task, and the A/B order their newest answer was given under.
SELECT coalesce(shown_order, '') AS shown_order
  FROM submissions
 WHERE task_id = %(task_id)s AND user_id = %(user_id)s
 ORDER BY response_version DESC
 LIMIT 1;

-- name: latest_transcripts
-- The transcripts that count (a model judge's only where its task counts them).
SELECT id, payload ->> 'transcript' AS transcript
  FROM submissions
 WHERE task_id = %(task_id)s AND is_latest AND in_consensus
 ORDER BY created_at, id;

-- name: set_transcription
-- The application's word-error-rate result, then the derived fields from it.
UPDATE response_consensus
   SET details = jsonb_set(details, '{transcription}', %(transcription)s)
 WHERE task_id = %(task_id)s;

-- name: consensus_row
SELECT to_jsonb(c) || jsonb_build_object(
           'consensus_threshold', t.consensus_threshold,
           'min_agreement_percentage', t.min_agreement_percentage,
           'allow_tie', t.allow_tie, 'status', t.status, 'question_type', q.question_type) AS row
  FROM response_consensus c
  JOIN tasks t ON t.id = c.task_id
  JOIN questions q ON q.id = t.question_id
 WHERE c.task_id = %(task_id)s;

-- name: settle
SELECT consensus_store(
    consensus_derive(c, t.consensus_threshold, t.min_agreement_percentage, q.question_type,
                     jsonb_array_length(q.content -> 'options')),
    c.consensus_reached)
  FROM response_consensus c
  JOIN tasks t ON t.id = c.task_id
  JOIN questions q ON q.id = t.question_id
 WHERE c.task_id = %(task_id)s;

-- name: submit_deferred
-- The same, with the consensus events handed back (key 'events') for the caller to publish
-- after the commit instead of notified inside the transaction (see revision 0007).
SELECT submit_answer_v2(%(task_id)s, %(user_id)s, %(chosen_response)s, %(ranking)s, %(text)s,
                        %(transcript)s, %(confidence)s, %(explanation)s,
                        %(time_spent_seconds)s, %(shown_order)s, %(idempotency_key)s) AS result;

-- name: submit
SELECT submit_answer_v1(%(task_id)s, %(user_id)s, %(chosen_response)s, %(ranking)s, %(text)s,
                        %(transcript)s, %(confidence)s, %(explanation)s,
                        %(time_spent_seconds)s, %(shown_order)s, %(idempotency_key)s) AS result;

-- name: replayed_answer
-- The answer an Idempotency-Key first stored, to tell a retry from a different answer.
SELECT chosen_response, payload, confidence, explanation, time_spent_seconds
  FROM submissions
 WHERE id = %(id)s;

-- name: submit_grouped
-- Many answers in one transaction, each as submit_deferred alone (revision 0019): a JSON array
-- in the order given, of submit_answer_v2's results or {"error": {sqlstate, message, hint}};
-- the whole group's consensus events come with the first answer stored (revision 0022).
SELECT submit_answers_v1(%(tasks)s::uuid[], %(users)s::uuid[], %(chosen)s::text[],
                         %(rankings)s::jsonb[], %(texts)s::text[], %(transcripts)s::text[],
                         %(confidences)s::integer[], %(explanations)s::text[],
                         %(times)s::integer[], %(shown_orders)s::text[],
                         %(keys)s::text[]) AS results;
