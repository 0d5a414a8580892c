-- squawk-ignore-file prefer-robust-stmts -- a revision runs in one transaction (migrations/env.py): it applies whole or not at all, and IF [NOT] EXISTS would hide a schema that drifted
-- squawk-ignore-file require-lock-timeout -- migrations/env.py sets lock_timeout before every revision
-- squawk-ignore-file require-statement-timeout -- a revision must run to the end; the lock_timeout env.py sets is what keeps it from stalling other sessions
-- migrate:up
-- Why: work an answer did that changed nothing it stores (issue 17; measured statement by
-- statement with pg_stat_statements, BENCHMARKS.md "Where PostgreSQL's time goes in one answer"):
-- * gold_answer was declared IMMUTABLE around jsonb_build_object, which is only STABLE, so the
--   planner never inlined it: every answer's gold lookup ran it as a function of its own (about
--   18 µs). STABLE, it is inlined; it returns the same values.
-- * submissions_webhook built the response.created payload for every answer and then found no
--   webhook listening; it now looks first and builds the payload only for a listener.
-- * submissions_check_answer read the task's question twice when the answer names the task's
--   own question (what submit_answer_v1 always writes): the lineage check is then met already.
-- * submit_answers_v1 turned the deferred consensus events on and off and parsed them once per
--   answer; now once per group. The group's events are handed back with the first answer
--   stored (the API publishes them once the group has committed, whichever request carries
--   them); an answer rolled back takes its events with it (a subtransaction's settings are
--   undone with it), as before.
CREATE OR REPLACE FUNCTION gold_answer(qtype text, gold_standard jsonb) RETURNS jsonb
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
SELECT CASE WHEN gold_standard IS NOT NULL THEN
    CASE qtype
    WHEN 'pairwise_ab' THEN jsonb_build_object('chosen_response', gold_standard)
    WHEN 'ranking' THEN jsonb_build_object('ranking', gold_standard)
    WHEN 'text_generation' THEN jsonb_build_object('text', gold_standard)
    ELSE jsonb_build_object('transcript', gold_standard) END END
$$;

CREATE OR REPLACE FUNCTION submissions_webhook() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM webhooks WHERE is_active AND 'response.created' = ANY (events)) THEN
        PERFORM webhook_enqueue_v1('response.created', jsonb_build_object(
            'submission_id', NEW.id, 'task_id', NEW.task_id, 'user_id', NEW.user_id,
            'question_id', NEW.question_id, 'response_version', NEW.response_version,
            'chosen_response', NEW.chosen_response, 'answer', NEW.payload,
            'confidence', NEW.confidence, 'time_spent_seconds', NEW.time_spent_seconds,
            'created_at', NEW.created_at));
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION submissions_check_answer() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    t_question uuid;
    t_allow_tie boolean;
    q_type text;
    q_content jsonb;
    q_lineage uuid;
    t_lineage uuid;
BEGIN
    SELECT t.question_id, t.allow_tie INTO t_question, t_allow_tie FROM tasks t WHERE t.id = NEW.task_id;
    IF NEW.question_id IS NULL THEN
        NEW.question_id := t_question;
    END IF;
    SELECT q.question_type, q.content, q.lineage_id INTO q_type, q_content, q_lineage
      FROM questions q WHERE q.id = NEW.question_id;
    -- Another question than the task's must be a version of it (same lineage).
    IF NEW.question_id IS DISTINCT FROM t_question THEN
        SELECT q.lineage_id INTO t_lineage FROM questions q WHERE q.id = t_question;
        IF q_lineage IS DISTINCT FROM t_lineage THEN
            RAISE EXCEPTION 'submission answers question % which is not a version of the task''s question', NEW.question_id
                USING ERRCODE = 'check_violation', CONSTRAINT = 'submissions_question_check';
        END IF;
    END IF;
    IF q_type = 'pairwise_ab' THEN
        IF NEW.chosen_response IS NULL THEN
            RAISE EXCEPTION 'a pairwise_ab answer needs chosen_response'
                USING ERRCODE = 'check_violation', CONSTRAINT = 'submissions_answer_type_check';
        END IF;
        IF NEW.chosen_response = 'tie' AND NOT t_allow_tie THEN
            RAISE EXCEPTION 'this task does not allow a tie'
                USING ERRCODE = 'check_violation', CONSTRAINT = 'submissions_tie_check';
        END IF;
    ELSIF NEW.chosen_response IS NOT NULL OR NOT (
        (q_type = 'ranking' AND is_permutation(NEW.payload -> 'ranking', jsonb_array_length(q_content -> 'options')))
        OR (q_type = 'text_generation' AND jsonb_typeof(NEW.payload -> 'text') = 'string'
            AND btrim(NEW.payload ->> 'text') <> '')
        OR (q_type = 'voice_transcription' AND jsonb_typeof(NEW.payload -> 'transcript') = 'string')
    ) THEN
        RAISE EXCEPTION 'the answer does not fit a % question', q_type
            USING ERRCODE = 'check_violation', CONSTRAINT = 'submissions_answer_type_check';
    END IF;
    RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION submit_answers_v1(p_tasks uuid[], p_users uuid[], p_chosen text[], p_rankings jsonb[], p_texts text[], p_transcripts text[], p_confidences integer[], p_explanations text[], p_times integer[], p_shown_orders text[], p_keys text[]) RETURNS jsonb
    LANGUAGE plpgsql
    AS $$
DECLARE
    n integer := coalesce(cardinality(p_tasks), 0);
    results jsonb[] := '{}';
    one jsonb;
    first_stored integer;
    events jsonb;
    v_state text;
    v_message text;
    v_hint text;
BEGIN
    IF n > 64 THEN
        RAISE EXCEPTION 'at most 64 answers a call, not %', n
            USING ERRCODE = 'WH422', HINT = 'answers';
    END IF;
    -- The consensus events, deferred for the whole group (see submit_answer_v2).
    PERFORM set_config('whstudio.defer_events', 'on', true);
    PERFORM set_config('whstudio.deferred_events', '', true);
    FOR i IN 1 .. n LOOP
        BEGIN
            one := submit_answer_v1(p_tasks[i], p_users[i], p_chosen[i], p_rankings[i],
                                    p_texts[i], p_transcripts[i], p_confidences[i],
                                    p_explanations[i], p_times[i], p_shown_orders[i],
                                    p_keys[i]);
            first_stored := coalesce(first_stored, i);
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT,
                                    v_hint = PG_EXCEPTION_HINT;
            one := jsonb_build_object('error', jsonb_build_object(
                'sqlstate', v_state, 'message', v_message, 'hint', nullif(v_hint, '')));
        END;
        results := results || one;
    END LOOP;
    SELECT coalesce(jsonb_agg(line::jsonb ORDER BY k), '[]'::jsonb) INTO events
      FROM regexp_split_to_table(current_setting('whstudio.deferred_events'), E'\n')
           WITH ORDINALITY AS e (line, k)
     WHERE line <> '';
    PERFORM set_config('whstudio.defer_events', 'off', true);
    PERFORM set_config('whstudio.deferred_events', '', true);
    FOR i IN 1 .. n LOOP
        IF i = first_stored THEN
            results[i] := results[i] || jsonb_build_object('events', events);
        ELSIF NOT results[i] ? 'error' THEN
            results[i] := results[i] || jsonb_build_object('events', '[]'::jsonb);
        END IF;
    END LOOP;
    RETURN to_jsonb(results);
END
$$;

-- migrate:down
CREATE OR REPLACE FUNCTION gold_answer(qtype text, gold_standard jsonb) RETURNS jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
SELECT CASE WHEN gold_standard IS NOT NULL THEN
    CASE qtype
    WHEN 'pairwise_ab' THEN jsonb_build_object('chosen_response', gold_standard)
    WHEN 'ranking' THEN jsonb_build_object('ranking', gold_standard)
    WHEN 'text_generation' THEN jsonb_build_object('text', gold_standard)
    ELSE jsonb_build_object('transcript', gold_standard) END END
$$;

CREATE OR REPLACE FUNCTION submissions_webhook() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM webhook_enqueue_v1('response.created', jsonb_build_object(
        'submission_id', NEW.id, 'task_id', NEW.task_id, 'user_id', NEW.user_id,
        'question_id', NEW.question_id, 'response_version', NEW.response_version,
        'chosen_response', NEW.chosen_response, 'answer', NEW.payload,
        'confidence', NEW.confidence, 'time_spent_seconds', NEW.time_spent_seconds,
        'created_at', NEW.created_at));
    RETURN NULL;
END
$$;
CREATE OR REPLACE FUNCTION submissions_check_answer() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    t_question uuid;
    t_allow_tie boolean;
    q_type text;
    q_content jsonb;
    q_lineage uuid;
    t_lineage uuid;
BEGIN
    SELECT t.question_id, t.allow_tie INTO t_question, t_allow_tie FROM tasks t WHERE t.id = NEW.task_id;
    IF NEW.question_id IS NULL THEN
        NEW.question_id := t_question;
    END IF;
    SELECT q.question_type, q.content, q.lineage_id INTO q_type, q_content, q_lineage
      FROM questions q WHERE q.id = NEW.question_id;
    SELECT q.lineage_id INTO t_lineage FROM questions q WHERE q.id = t_question;
    IF q_lineage IS DISTINCT FROM t_lineage THEN
        RAISE EXCEPTION 'submission answers question % which is not a version of the task''s question', NEW.question_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'submissions_question_check';
    END IF;
    IF q_type = 'pairwise_ab' THEN
        IF NEW.chosen_response IS NULL THEN
            RAISE EXCEPTION 'a pairwise_ab answer needs chosen_response'
                USING ERRCODE = 'check_violation', CONSTRAINT = 'submissions_answer_type_check';
        END IF;
        IF NEW.chosen_response = 'tie' AND NOT t_allow_tie THEN
            RAISE EXCEPTION 'this task does not allow a tie'
                USING ERRCODE = 'check_violation', CONSTRAINT = 'submissions_tie_check';
        END IF;
    ELSIF NEW.chosen_response IS NOT NULL OR NOT (
        (q_type = 'ranking' AND is_permutation(NEW.payload -> 'ranking', jsonb_array_length(q_content -> 'options')))
        OR (q_type = 'text_generation' AND jsonb_typeof(NEW.payload -> 'text') = 'string'
            AND btrim(NEW.payload ->> 'text') <> '')
        OR (q_type = 'voice_transcription' AND jsonb_typeof(NEW.payload -> 'transcript') = 'string')
    ) THEN
        RAISE EXCEPTION 'the answer does not fit a % question', q_type
            USING ERRCODE = 'check_violation', CONSTRAINT = 'submissions_answer_type_check';
    END IF;
    RETURN NEW;
END
$$;
CREATE OR REPLACE FUNCTION submit_answers_v1(p_tasks uuid[], p_users uuid[], p_chosen text[], p_rankings jsonb[], p_texts text[], p_transcripts text[], p_confidences integer[], p_explanations text[], p_times integer[], p_shown_orders text[], p_keys text[]) RETURNS jsonb
    LANGUAGE plpgsql
    AS $$
DECLARE
    n integer := coalesce(cardinality(p_tasks), 0);
    results jsonb[] := '{}';
    one jsonb;
    v_state text;
    v_message text;
    v_hint text;
BEGIN
    IF n > 64 THEN
        RAISE EXCEPTION 'at most 64 answers a call, not %', n
            USING ERRCODE = 'WH422', HINT = 'answers';
    END IF;
    FOR i IN 1 .. n LOOP
        BEGIN
            one := submit_answer_v2(p_tasks[i], p_users[i], p_chosen[i], p_rankings[i],
                                    p_texts[i], p_transcripts[i], p_confidences[i],
                                    p_explanations[i], p_times[i], p_shown_orders[i],
                                    p_keys[i]);
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT,
                                    v_hint = PG_EXCEPTION_HINT;
            one := jsonb_build_object('error', jsonb_build_object(
                'sqlstate', v_state, 'message', v_message, 'hint', nullif(v_hint, '')));
        END;
        results := results || one;
    END LOOP;
    RETURN to_jsonb(results);
END
$$;
