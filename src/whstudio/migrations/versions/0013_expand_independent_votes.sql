-- squawk-ignore-file ban-drop-column -- only in the migrate:down half, which removes what the up half added
-- squawk-ignore-file ban-drop-table -- only in the migrate:down half, which removes what the up half added
-- squawk-ignore-file ban-drop-function -- only in the migrate:down half, which removes the function the up half added
-- squawk-ignore-file prefer-robust-stmts -- a revision runs in one transaction (migrations/env.py): it applies whole or not at all, and IF [NOT] EXISTS would hide a schema that drifted
-- squawk-ignore-file require-lock-timeout -- migrations/env.py sets lock_timeout before every revision
-- squawk-ignore-file require-statement-timeout -- a revision must run to the end; the lock_timeout env.py sets is what keeps it from stalling other sessions
-- migrate:up
-- Why: votes must be independent. An annotator who had seen the per-choice counts could answer
-- again with the majority: the revision moved the task to consensus and raised their
-- reputation. Each dataset now says when annotators see others' answers (dataset_policies:
-- never, after answering, after the task closes) and whether they learn which of their answers
-- were gold checks. An answer given after its author could see others' answers is kept and
-- marked (submissions.informed) but does not count: it is stored beside the answer that
-- counts (is_latest stays on the earlier one), so consensus, quality and reputation do not
-- move. Adding a column with a constant default rewrites nothing.
CREATE TABLE dataset_policies (
    source_dataset text PRIMARY KEY CHECK (length(source_dataset) BETWEEN 1 AND 200),
    reveal         text NOT NULL DEFAULT 'after_answer'
                   CHECK (reveal IN ('never', 'after_answer', 'after_close')),
    gold_feedback  boolean NOT NULL DEFAULT false,
    updated_at     timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP
);
COMMENT ON TABLE dataset_policies IS
    'What annotators of a dataset may see: others'' answers (reveal) and gold verdicts';
ALTER TABLE submissions ADD COLUMN informed boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN submissions.informed IS
    'given after its author could see others'' answers to the task: kept, never counted';

CREATE OR REPLACE FUNCTION submit_answer_v1(p_task uuid, p_user uuid, p_chosen text, p_ranking jsonb, p_text text, p_transcript text, p_confidence integer, p_explanation text, p_time integer, p_shown_order text, p_key text) RETURNS jsonb
    LANGUAGE plpgsql
    AS $$
DECLARE
    earlier record;
    t record;
    given text[];
    expected text;
    extra text;
    n integer;
    new_payload jsonb;
    sid uuid;
    v integer;
    replayed boolean := false;
    c response_consensus;
    v_informed boolean := false;
BEGIN
    IF p_key IS NOT NULL THEN
        SELECT s.id, s.task_id, s.response_version, s.informed INTO earlier
          FROM submissions s WHERE s.user_id = p_user AND s.idempotency_key = p_key;
        IF FOUND THEN
            IF earlier.task_id <> p_task THEN
                RAISE EXCEPTION 'this Idempotency-Key was already used for another task'
                    USING ERRCODE = 'WH409', HINT = 'Idempotency-Key';
            END IF;
            sid := earlier.id;
            v := earlier.response_version;
            v_informed := earlier.informed;
            replayed := true;
        END IF;
    END IF;
    SELECT tk.status, tk.expires_at <= CURRENT_TIMESTAMP AS expired, tk.allow_tie, tk.question_id,
           tk.consensus_threshold, tk.min_agreement_percentage,
           q.question_type, jsonb_array_length(q.content -> 'options') AS n_options,
           coalesce(p.reveal, 'after_answer') AS reveal
      INTO t
      FROM tasks tk JOIN questions q ON q.id = tk.question_id
      LEFT JOIN dataset_policies p ON p.source_dataset = q.source_dataset
     WHERE tk.id = p_task;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no such task' USING ERRCODE = 'WH404', HINT = 'task_id';
    END IF;
    IF NOT replayed THEN
        IF t.status <> 'active' THEN
            RAISE EXCEPTION 'the task is % and takes no answers', t.status USING ERRCODE = 'WH409';
        END IF;
        IF t.expired THEN
            RAISE EXCEPTION 'the task has expired and takes no answers' USING ERRCODE = 'WH409';
        END IF;
        -- Exactly the answer field of the question's type, in the shape that type needs.
        given := array_remove(ARRAY[
            CASE WHEN p_chosen IS NOT NULL THEN 'chosen_response' END,
            CASE WHEN p_ranking IS NOT NULL THEN 'ranking' END,
            CASE WHEN p_text IS NOT NULL THEN 'text' END,
            CASE WHEN p_transcript IS NOT NULL THEN 'transcript' END], NULL);
        expected := CASE t.question_type WHEN 'pairwise_ab' THEN 'chosen_response'
                                         WHEN 'ranking' THEN 'ranking'
                                         WHEN 'text_generation' THEN 'text'
                                         ELSE 'transcript' END;
        SELECT g INTO extra FROM unnest(given) AS g WHERE g <> expected LIMIT 1;
        IF extra IS NOT NULL THEN
            RAISE EXCEPTION 'a % answer has no %', t.question_type, extra
                USING ERRCODE = 'WH422', HINT = extra;
        END IF;
        IF NOT expected = ANY (given) THEN
            RAISE EXCEPTION 'a % answer needs %', t.question_type, expected
                USING ERRCODE = 'WH422', HINT = expected;
        END IF;
        IF t.question_type = 'pairwise_ab' THEN
            IF p_chosen = 'tie' AND NOT t.allow_tie THEN
                RAISE EXCEPTION 'this task does not allow a tie'
                    USING ERRCODE = 'WH422', HINT = 'chosen_response';
            END IF;
        ELSIF t.question_type = 'ranking' THEN
            IF NOT is_permutation(p_ranking, t.n_options) THEN
                RAISE EXCEPTION 'ranking must order every option index 0..% exactly once',
                    t.n_options - 1 USING ERRCODE = 'WH422', HINT = 'ranking';
            END IF;
            new_payload := jsonb_build_object('ranking', p_ranking);
        ELSIF t.question_type = 'text_generation' THEN
            IF btrim(p_text) = '' THEN
                RAISE EXCEPTION 'text must not be empty' USING ERRCODE = 'WH422', HINT = 'text';
            END IF;
            new_payload := jsonb_build_object('text', p_text);
        ELSE
            IF btrim(p_transcript) = '' THEN
                RAISE EXCEPTION 'transcript must not be empty'
                    USING ERRCODE = 'WH422', HINT = 'transcript';
            END IF;
            new_payload := jsonb_build_object('transcript', p_transcript);
        END IF;
        -- Informed: given after its author could see others' answers to this task (staff see
        -- them all; an annotator as the dataset's reveal policy lets them, once answered).
        -- Such an answer is kept and marked, but the answer that counts stays the one before.
        -- Answers from a file (an import sets whstudio.answers_from_file) were given where
        -- nobody saw this app's consensus.
        IF current_setting('whstudio.answers_from_file', true) IS DISTINCT FROM 'on'
           AND EXISTS (SELECT 1 FROM submissions s
                        WHERE s.task_id = p_task AND s.user_id <> p_user AND s.is_latest) THEN
            IF EXISTS (SELECT 1 FROM users u
                        WHERE u.id = p_user AND u.role IN ('reviewer', 'admin')) THEN
                v_informed := true;
            ELSIF t.reveal <> 'never'
                  AND EXISTS (SELECT 1 FROM submissions s
                               WHERE s.task_id = p_task AND s.user_id = p_user) THEN
                v_informed := t.reveal = 'after_answer'
                    OR (SELECT rc.remaining = 0 FROM response_consensus rc
                         WHERE rc.task_id = p_task);
            END IF;
        END IF;
        IF NOT v_informed THEN
            UPDATE submissions SET is_latest = false
             WHERE task_id = p_task AND user_id = p_user AND is_latest;
        END IF;
        INSERT INTO submissions (task_id, user_id, question_id, response_version, chosen_response,
                                 confidence, explanation, time_spent_seconds, shown_order, payload,
                                 idempotency_key, vote_weight, submitter_nullifier, is_latest,
                                 informed)
        SELECT p_task, p_user, t.question_id,
               -- after the latest, even if an earlier version was deleted by another writer
               (SELECT coalesce(max(s.response_version), 0) + 1 FROM submissions s
                 WHERE s.task_id = p_task AND s.user_id = p_user),
               p_chosen, p_confidence, p_explanation, p_time,
               CASE WHEN t.question_type = 'pairwise_ab' THEN p_shown_order END,
               new_payload, p_key, least(u.reputation_weight, 100)::numeric(9, 6),
               -- the sybil rule (one nullifier per task) keeps holding through revisions
               coalesce((SELECT s.submitter_nullifier FROM submissions s
                          WHERE s.task_id = p_task AND s.user_id = p_user
                            AND s.submitter_nullifier IS NOT NULL
                          ORDER BY s.response_version DESC LIMIT 1),
                        u.nullifier_hash),
               NOT v_informed, v_informed
          FROM users u WHERE u.id = p_user
        RETURNING id, response_version INTO sid, v;
        IF sid IS NULL THEN
            RAISE EXCEPTION 'no such user' USING ERRCODE = 'WH404', HINT = 'user_id';
        END IF;
        DELETE FROM task_leases WHERE task_id = p_task AND user_id = p_user;
    END IF;
    SELECT * INTO c FROM response_consensus WHERE task_id = p_task;
    RETURN jsonb_build_object(
        'submission_id', sid, 'response_version', v, 'replayed', replayed,
        'informed', v_informed,
        'question_type', t.question_type,
        'reached_now', c.consensus_reached AND c.reached_at = CURRENT_TIMESTAMP AND NOT replayed,
        'consensus', to_jsonb(c) || jsonb_build_object(
            'consensus_threshold', t.consensus_threshold,
            'min_agreement_percentage', t.min_agreement_percentage,
            'allow_tie', t.allow_tie, 'status', t.status, 'question_type', t.question_type,
            'reveal', t.reveal));
END
$$;

-- What an annotator may read of their own reputation: its value at the start of the day (UTC),
-- so that no change can be traced to the answer that caused it (a gold verdict moves the score
-- the moment the answer is stored). Before any event: the prior's mean (Beta(7, 3): 700) and
-- its weight, 1. The weight of a score is reputation_of's, from the score's accuracy.
CREATE FUNCTION reputation_as_of(p_user uuid, p_at timestamptz,
                                 OUT score integer, OUT weight double precision)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT s.score,
           least(10, greatest(0.01, ln(a / (1 - a)) / ln(7.0 / 3.0)))
      FROM (SELECT coalesce((SELECT e.score FROM reputation_events e
                              WHERE e.user_id = p_user AND e.created_at < p_at
                              ORDER BY e.id DESC LIMIT 1), 700) AS score) s,
           LATERAL (SELECT least(0.999, greatest(0.001, s.score / 1000.0))::double precision
                           AS a) x
$$;

-- migrate:down
-- Informed answers exist only from here on: before dropping their mark, they go (the
-- answer that counted is untouched).
DELETE FROM submissions WHERE informed;
CREATE OR REPLACE FUNCTION submit_answer_v1(p_task uuid, p_user uuid, p_chosen text, p_ranking jsonb, p_text text, p_transcript text, p_confidence integer, p_explanation text, p_time integer, p_shown_order text, p_key text) RETURNS jsonb
    LANGUAGE plpgsql
    AS $$
DECLARE
    earlier record;
    t record;
    given text[];
    expected text;
    extra text;
    n integer;
    new_payload jsonb;
    sid uuid;
    v integer;
    replayed boolean := false;
    c response_consensus;
BEGIN
    IF p_key IS NOT NULL THEN
        SELECT s.id, s.task_id, s.response_version INTO earlier
          FROM submissions s WHERE s.user_id = p_user AND s.idempotency_key = p_key;
        IF FOUND THEN
            IF earlier.task_id <> p_task THEN
                RAISE EXCEPTION 'this Idempotency-Key was already used for another task'
                    USING ERRCODE = 'WH409', HINT = 'Idempotency-Key';
            END IF;
            sid := earlier.id;
            v := earlier.response_version;
            replayed := true;
        END IF;
    END IF;
    SELECT tk.status, tk.expires_at <= CURRENT_TIMESTAMP AS expired, tk.allow_tie, tk.question_id,
           tk.consensus_threshold, tk.min_agreement_percentage,
           q.question_type, jsonb_array_length(q.content -> 'options') AS n_options
      INTO t
      FROM tasks tk JOIN questions q ON q.id = tk.question_id
     WHERE tk.id = p_task;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no such task' USING ERRCODE = 'WH404', HINT = 'task_id';
    END IF;
    IF NOT replayed THEN
        IF t.status <> 'active' THEN
            RAISE EXCEPTION 'the task is % and takes no answers', t.status USING ERRCODE = 'WH409';
        END IF;
        IF t.expired THEN
            RAISE EXCEPTION 'the task has expired and takes no answers' USING ERRCODE = 'WH409';
        END IF;
        -- Exactly the answer field of the question's type, in the shape that type needs.
        given := array_remove(ARRAY[
            CASE WHEN p_chosen IS NOT NULL THEN 'chosen_response' END,
            CASE WHEN p_ranking IS NOT NULL THEN 'ranking' END,
            CASE WHEN p_text IS NOT NULL THEN 'text' END,
            CASE WHEN p_transcript IS NOT NULL THEN 'transcript' END], NULL);
        expected := CASE t.question_type WHEN 'pairwise_ab' THEN 'chosen_response'
                                         WHEN 'ranking' THEN 'ranking'
                                         WHEN 'text_generation' THEN 'text'
                                         ELSE 'transcript' END;
        SELECT g INTO extra FROM unnest(given) AS g WHERE g <> expected LIMIT 1;
        IF extra IS NOT NULL THEN
            RAISE EXCEPTION 'a % answer has no %', t.question_type, extra
                USING ERRCODE = 'WH422', HINT = extra;
        END IF;
        IF NOT expected = ANY (given) THEN
            RAISE EXCEPTION 'a % answer needs %', t.question_type, expected
                USING ERRCODE = 'WH422', HINT = expected;
        END IF;
        IF t.question_type = 'pairwise_ab' THEN
            IF p_chosen = 'tie' AND NOT t.allow_tie THEN
                RAISE EXCEPTION 'this task does not allow a tie'
                    USING ERRCODE = 'WH422', HINT = 'chosen_response';
            END IF;
        ELSIF t.question_type = 'ranking' THEN
            IF NOT is_permutation(p_ranking, t.n_options) THEN
                RAISE EXCEPTION 'ranking must order every option index 0..% exactly once',
                    t.n_options - 1 USING ERRCODE = 'WH422', HINT = 'ranking';
            END IF;
            new_payload := jsonb_build_object('ranking', p_ranking);
        ELSIF t.question_type = 'text_generation' THEN
            IF btrim(p_text) = '' THEN
                RAISE EXCEPTION 'text must not be empty' USING ERRCODE = 'WH422', HINT = 'text';
            END IF;
            new_payload := jsonb_build_object('text', p_text);
        ELSE
            IF btrim(p_transcript) = '' THEN
                RAISE EXCEPTION 'transcript must not be empty'
                    USING ERRCODE = 'WH422', HINT = 'transcript';
            END IF;
            new_payload := jsonb_build_object('transcript', p_transcript);
        END IF;
        UPDATE submissions SET is_latest = false
         WHERE task_id = p_task AND user_id = p_user AND is_latest;
        INSERT INTO submissions (task_id, user_id, question_id, response_version, chosen_response,
                                 confidence, explanation, time_spent_seconds, shown_order, payload,
                                 idempotency_key, vote_weight, submitter_nullifier)
        SELECT p_task, p_user, t.question_id,
               -- after the latest, even if an earlier version was deleted by another writer
               (SELECT coalesce(max(s.response_version), 0) + 1 FROM submissions s
                 WHERE s.task_id = p_task AND s.user_id = p_user),
               p_chosen, p_confidence, p_explanation, p_time,
               CASE WHEN t.question_type = 'pairwise_ab' THEN p_shown_order END,
               new_payload, p_key, least(u.reputation_weight, 100)::numeric(9, 6),
               -- the sybil rule (one nullifier per task) keeps holding through revisions
               coalesce((SELECT s.submitter_nullifier FROM submissions s
                          WHERE s.task_id = p_task AND s.user_id = p_user
                            AND s.submitter_nullifier IS NOT NULL
                          ORDER BY s.response_version DESC LIMIT 1),
                        u.nullifier_hash)
          FROM users u WHERE u.id = p_user
        RETURNING id, response_version INTO sid, v;
        IF sid IS NULL THEN
            RAISE EXCEPTION 'no such user' USING ERRCODE = 'WH404', HINT = 'user_id';
        END IF;
        DELETE FROM task_leases WHERE task_id = p_task AND user_id = p_user;
    END IF;
    SELECT * INTO c FROM response_consensus WHERE task_id = p_task;
    RETURN jsonb_build_object(
        'submission_id', sid, 'response_version', v, 'replayed', replayed,
        'question_type', t.question_type,
        'reached_now', c.consensus_reached AND c.reached_at = CURRENT_TIMESTAMP AND NOT replayed,
        'consensus', to_jsonb(c) || jsonb_build_object(
            'consensus_threshold', t.consensus_threshold,
            'min_agreement_percentage', t.min_agreement_percentage,
            'allow_tie', t.allow_tie, 'status', t.status, 'question_type', t.question_type));
END
$$;
DROP FUNCTION reputation_as_of(uuid, timestamptz);
ALTER TABLE submissions DROP COLUMN informed;
DROP TABLE dataset_policies;
