-- squawk-ignore-file ban-drop-function -- only in the migrate:down half, which removes what the up half added
-- squawk-ignore-file prefer-robust-stmts -- a revision runs in one transaction (migrations/env.py): it applies whole or not at all, and IF [NOT] EXISTS would hide a schema that drifted
-- squawk-ignore-file require-lock-timeout -- migrations/env.py sets lock_timeout before every revision
-- squawk-ignore-file require-statement-timeout -- a revision must run to the end; the lock_timeout env.py sets is what keeps it from stalling other sessions
-- migrate:up
-- Why: issue 17. benchmarks/submit_rows.py measured the rules beside the rows they write: a
-- group of 8 answers stored one by one through the triggers cost the server about 1,100 µs of
-- CPU per answer, the same rows written set-based with none of the rules about 290 (BENCHMARKS.md,
-- "The rules beside the rows they write"). Most answers the API stores in a
-- group are answers whose effects are each their own (first answers by annotators to distinct
-- open pairwise tasks that stay short of their threshold: nothing settles, no verdict, no
-- counter of the dashboard moves). submit_group_fast_v1 stores those of a group set-based, each
-- table written once, and hands back what storing them one by one would
-- (tests/db/test_group_fast.py compares the two on random groups); submit_answers_v1 then
-- stores the group's other answers one by one as before. Setting whstudio.group_fast to 'off'
-- (for a session or a database) stores every answer one by one.
-- The payload of response.created, one definition for the trigger below, the set-based path
-- and the answers import (db/sql/import_answers.sql).
CREATE FUNCTION response_created_payload(s submissions) RETURNS jsonb
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
SELECT jsonb_build_object(
    'submission_id', s.id, 'task_id', s.task_id, 'user_id', s.user_id,
    'question_id', s.question_id, 'response_version', s.response_version,
    'chosen_response', s.chosen_response, 'answer', s.payload,
    'confidence', s.confidence, 'time_spent_seconds', s.time_spent_seconds,
    'created_at', s.created_at)
$$;

CREATE OR REPLACE FUNCTION submissions_webhook() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM webhooks WHERE is_active AND 'response.created' = ANY (events)) THEN
        PERFORM webhook_enqueue_v1('response.created', response_created_payload(NEW));
    END IF;
    RETURN NULL;
END
$$;

-- Its statements are planned once per session (plan_cache_mode): planned for each call's array
-- sizes, as PostgreSQL otherwise chose, they cost more to plan than to run (about 7 ms a group,
-- measured with pg_stat_statements' track_planning).
CREATE FUNCTION submit_group_fast_v1(p_tasks uuid[], p_users uuid[], p_chosen text[], p_rankings jsonb[], p_texts text[], p_transcripts text[], p_confidences integer[], p_explanations text[], p_times integer[], p_shown_orders text[], p_keys text[]) RETURNS jsonb
    LANGUAGE plpgsql
    SET plan_cache_mode = force_generic_plan
    AS $$
-- The answers of a group whose effects are each their own, stored set-based, each table written
-- once for all of them: first answers of annotators (persons, not staff) to open pairwise tasks
-- with no gold or adjudication that stay short of their threshold after the answer (so nothing
-- settles, no verdict is given and no dashboard counter moves), distinct tasks and annotators
-- among them (the first such answer of a task or an annotator in the group's order), any
-- Idempotency-Key new. Each one's rows are what submit_answer_v1 and the triggers write for it,
-- and its result and events the same (tests/db/test_group_fast.py compares the two on random
-- groups). Returns the group's results in its order, a result where an answer was stored here
-- and JSON null where it was not (the caller stores those one by one, after these), or NULL
-- when none was. The caller holds the lock of every task's consensus row (submit_answers_v1
-- takes them in task order) and calls this inside a subtransaction.
DECLARE
    whole integer := coalesce(cardinality(p_tasks), 0);
    n integer;
    picked integer[];
    ids uuid[];
    payloads text;
    results jsonb;
BEGIN
    IF whole > 64 OR current_setting('whstudio.answers_from_file', true) = 'on'
       OR current_setting('whstudio.defer_events', true) IS DISTINCT FROM 'on' THEN
        RETURN NULL;
    END IF;
    SELECT coalesce(array_agg(x.k ORDER BY x.k), '{}') INTO picked
      FROM (SELECT a.k,
                   row_number() OVER (PARTITION BY a.task_id ORDER BY a.k) AS of_task,
                   row_number() OVER (PARTITION BY a.user_id ORDER BY a.k) AS of_user
              FROM unnest(p_tasks, p_users, p_chosen, p_rankings, p_texts, p_transcripts,
                          p_keys) WITH ORDINALITY
                   AS a (task_id, user_id, chosen, ranking, txt, transcript, key, k)
              JOIN tasks t ON t.id = a.task_id
              JOIN questions q ON q.id = t.question_id
              JOIN response_consensus c ON c.task_id = a.task_id
              JOIN users u ON u.id = a.user_id
             WHERE t.status = 'active'
               AND (t.expires_at IS NULL OR t.expires_at > CURRENT_TIMESTAMP)
               AND q.question_type = 'pairwise_ab' AND q.gold_standard IS NULL
               AND (a.chosen IN ('A', 'B') OR (a.chosen = 'tie' AND t.allow_tie))
               AND a.ranking IS NULL AND a.txt IS NULL AND a.transcript IS NULL
               AND NOT c.consensus_reached AND c.remaining > 0
               AND t.consensus_threshold - c.total_responses >= 2
               AND u.role = 'annotator' AND u.kind = 'person'
               AND NOT EXISTS (SELECT 1 FROM task_adjudications j WHERE j.task_id = a.task_id)
               AND NOT EXISTS (SELECT 1 FROM submissions s
                                WHERE s.task_id = a.task_id AND s.user_id = a.user_id)
               AND (a.key IS NULL
                    OR NOT EXISTS (SELECT 1 FROM submissions s
                                    WHERE s.user_id = a.user_id AND s.idempotency_key = a.key))
           ) AS x
     WHERE x.of_task = 1 AND x.of_user = 1;
    n := cardinality(picked);
    IF n = 0 THEN
        RETURN NULL;
    END IF;
    -- From here on, the arrays hold the answers stored here, in the group's order.
    p_tasks := ARRAY(SELECT p_tasks[k] FROM unnest(picked) AS k ORDER BY k);
    p_users := ARRAY(SELECT p_users[k] FROM unnest(picked) AS k ORDER BY k);
    p_chosen := ARRAY(SELECT p_chosen[k] FROM unnest(picked) AS k ORDER BY k);
    p_confidences := ARRAY(SELECT p_confidences[k] FROM unnest(picked) AS k ORDER BY k);
    p_explanations := ARRAY(SELECT p_explanations[k] FROM unnest(picked) AS k ORDER BY k);
    p_times := ARRAY(SELECT p_times[k] FROM unnest(picked) AS k ORDER BY k);
    p_shown_orders := ARRAY(SELECT p_shown_orders[k] FROM unnest(picked) AS k ORDER BY k);
    p_keys := ARRAY(SELECT p_keys[k] FROM unnest(picked) AS k ORDER BY k);

    -- The per-answer triggers stand aside (revision 0012): what they would write follows.
    PERFORM set_config('whstudio.bulk_answers', 'on', true);

    -- The answers, in the order given (their time-ordered ids in that order), with their
    -- quality rows: the "fast" reason against the task's other latest answers (as
    -- submissions_quality samples them) and the annotator's standing flags.
    WITH a AS (
        SELECT a.*, t.question_id, q.question_type,
               (SELECT max(g.version) FROM dataset_guidelines g
                 WHERE g.source_dataset = q.source_dataset) AS guidelines_version,
               least(u.reputation_weight, 100)::numeric(9, 6) AS weight, u.nullifier_hash,
               coalesce(ARRAY(SELECT f FROM unnest(st.flags) AS f
                               WHERE f IN ('position_bias', 'same_answer', 'gold_failures',
                                           'below_chance')), '{}') AS standing
          FROM unnest(p_tasks, p_users, p_chosen, p_confidences, p_explanations, p_times,
                      p_shown_orders, p_keys) WITH ORDINALITY
               AS a (task_id, user_id, chosen, confidence, explanation, time_spent, shown_order,
                     key, k)
          JOIN tasks t ON t.id = a.task_id
          JOIN questions q ON q.id = t.question_id
          JOIN users u ON u.id = a.user_id
          LEFT JOIN annotator_stats st ON st.user_id = a.user_id
    ), new AS (
        INSERT INTO submissions (task_id, user_id, question_id, response_version, chosen_response,
                                 confidence, explanation, time_spent_seconds, shown_order,
                                 idempotency_key, vote_weight, submitter_nullifier, is_latest,
                                 informed, guidelines_version, in_consensus)
        SELECT a.task_id, a.user_id, a.question_id, 1, a.chosen, a.confidence, a.explanation,
               a.time_spent, a.shown_order, a.key, a.weight, a.nullifier_hash, true, false,
               a.guidelines_version, true
          FROM a
         ORDER BY a.k
        RETURNING id, task_id, user_id, chosen_response, shown_order, time_spent_seconds
    ), quality AS (
        INSERT INTO response_quality_metrics (
            submission_id, task_id, user_id, question_type, choice, picked_left,
            time_spent_seconds, is_outlier, outlier_reasons, flagged_for_review, counted)
        SELECT s.id, s.task_id, s.user_id, a.question_type, s.chosen_response,
               CASE WHEN s.chosen_response IN ('A', 'B') AND s.shown_order IS NOT NULL
                    THEN (s.chosen_response = 'A') = (s.shown_order = 'AB') END,
               s.time_spent_seconds, cardinality(r.reasons) > 0, r.reasons,
               cardinality(r.reasons) > 0, true
          FROM new s
          JOIN a ON a.task_id = s.task_id
         CROSS JOIN LATERAL (
               SELECT CASE WHEN s.time_spent_seconds < 0.25 * (
                          SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x.t)
                            FROM (SELECT o.time_spent_seconds AS t
                                    FROM submissions o
                                   WHERE o.task_id = s.task_id AND o.is_latest
                                     AND o.time_spent_seconds IS NOT NULL
                                   ORDER BY o.user_id
                                   LIMIT 101) AS x
                          HAVING count(*) >= 2)
                      THEN ARRAY['fast'] ELSE '{}'::text[] END || a.standing AS reasons
           ) AS r
         ORDER BY a.k
    ), released AS (
        DELETE FROM task_leases l USING new s WHERE l.task_id = s.task_id AND l.user_id = s.user_id
    )
    SELECT array_agg(s.id ORDER BY a.k) INTO ids FROM new s JOIN a ON a.task_id = s.task_id;

    -- The annotators' counters (quality_apply_row), then what follows from them
    -- (reputation_update_v1: accuracy, interval and flags, the reputation), where it changed.
    INSERT INTO annotator_stats (user_id)
    SELECT u FROM unnest(p_users) AS u ORDER BY u
        ON CONFLICT DO NOTHING;
    UPDATE annotator_stats s SET
        answers = s.answers + 1,
        sided = s.sided + (m.picked_left IS NOT NULL)::int,
        picked_left = s.picked_left + coalesce(m.picked_left, false)::int,
        picked_a = s.picked_a + coalesce(m.choice = 'A', false)::int,
        picked_b = s.picked_b + coalesce(m.choice = 'B', false)::int,
        timed = s.timed + (m.time_spent_seconds IS NOT NULL)::int,
        time_sum = s.time_sum + coalesce(m.time_spent_seconds, 0),
        fast = s.fast + ('fast' = ANY (m.outlier_reasons))::int,
        updated_at = CURRENT_TIMESTAMP
      FROM response_quality_metrics m
     WHERE m.submission_id = ANY (ids) AND s.user_id = m.user_id;
    WITH r AS (
        SELECT s.user_id, s.accuracy AS was_accuracy, s.accuracy_low AS was_low,
               s.accuracy_high AS was_high, s.flags AS was_flags, x.accuracy, x.low, x.high,
               x.score, x.weight, annotator_flags(s, x.low, x.high) AS v_flags
          FROM annotator_stats s
         CROSS JOIN LATERAL reputation_of(s) AS x
         WHERE s.user_id = ANY (p_users)
    ), figures AS (
        UPDATE annotator_stats s
           SET accuracy = r.accuracy, accuracy_low = r.low, accuracy_high = r.high,
               flags = r.v_flags, updated_at = CURRENT_TIMESTAMP
          FROM r
         WHERE s.user_id = r.user_id
           AND (r.was_accuracy, r.was_low, r.was_high, r.was_flags)
               IS DISTINCT FROM (r.accuracy, r.low, r.high, r.v_flags)
    )
    UPDATE users u
       SET reputation_score = r.score, reputation_weight = round(r.weight::numeric, 6)
      FROM r
     WHERE u.id = r.user_id
       AND (u.reputation_score, u.reputation_weight)
           IS DISTINCT FROM (r.score, round(r.weight::numeric, 6));

    -- Each task's consensus row with its vote counted (consensus_apply_vote, consensus_store),
    -- new versions in the order of the answers; the events as consensus_store defers them.
    WITH v AS (
        SELECT v.*, nextval('consensus_event_seq') AS new_version
          FROM (SELECT a.k, a.task_id, a.chosen, a.confidence, a.time_spent, s.vote_weight AS w
                  FROM unnest(p_tasks, p_chosen, p_confidences, p_times)
                       WITH ORDINALITY AS a (task_id, chosen, confidence, time_spent, k)
                  JOIN submissions s ON s.id = ids[a.k]
                 ORDER BY a.k) AS v
    ), d AS (
        SELECT v.k, v.new_version, rc.consensus_reached AS was, x.*
          FROM v
          JOIN response_consensus rc ON rc.task_id = v.task_id
          JOIN tasks t ON t.id = v.task_id
          JOIN questions q ON q.id = t.question_id
         CROSS JOIN LATERAL consensus_derive(
                   jsonb_populate_record(rc, jsonb_build_object(
                       'total_responses', rc.total_responses + 1,
                       'count_a', rc.count_a + (v.chosen = 'A')::int,
                       'count_b', rc.count_b + (v.chosen = 'B')::int,
                       'count_tie', rc.count_tie + (v.chosen = 'tie')::int,
                       'weight_a', rc.weight_a + CASE WHEN v.chosen = 'A' THEN v.w ELSE 0 END,
                       'weight_b', rc.weight_b + CASE WHEN v.chosen = 'B' THEN v.w ELSE 0 END,
                       'weight_tie', rc.weight_tie
                                     + CASE WHEN v.chosen = 'tie' THEN v.w ELSE 0 END,
                       'confidence_sum_a', rc.confidence_sum_a
                           + CASE WHEN v.chosen = 'A' THEN coalesce(v.confidence, 0) ELSE 0 END,
                       'confidence_sum_b', rc.confidence_sum_b
                           + CASE WHEN v.chosen = 'B' THEN coalesce(v.confidence, 0) ELSE 0 END,
                       'confidence_sum_tie', rc.confidence_sum_tie
                           + CASE WHEN v.chosen = 'tie' THEN coalesce(v.confidence, 0) ELSE 0 END,
                       'confidence_sum', rc.confidence_sum + coalesce(v.confidence, 0),
                       'confidence_count', rc.confidence_count + (v.confidence IS NOT NULL)::int,
                       'time_spent_sum', rc.time_spent_sum + coalesce(v.time_spent, 0),
                       'time_spent_count', rc.time_spent_count + (v.time_spent IS NOT NULL)::int)),
                   t.consensus_threshold, t.min_agreement_percentage, q.question_type,
                   jsonb_array_length(q.content -> 'options')) AS x
    ), stored AS (
        UPDATE response_consensus c SET
            count_a = d.count_a, count_b = d.count_b, count_tie = d.count_tie,
            total_responses = d.total_responses,
            weight_a = d.weight_a, weight_b = d.weight_b, weight_tie = d.weight_tie,
            confidence_sum = d.confidence_sum, confidence_count = d.confidence_count,
            confidence_sum_a = d.confidence_sum_a, confidence_sum_b = d.confidence_sum_b,
            confidence_sum_tie = d.confidence_sum_tie,
            time_spent_sum = d.time_spent_sum, time_spent_count = d.time_spent_count,
            ranking_counts = d.ranking_counts, ranking_weights = d.ranking_weights,
            agreement_percentage = d.agreement_percentage,
            weighted_agreement_percentage = d.weighted_agreement_percentage,
            final_answer = d.final_answer, consensus_reached = d.consensus_reached,
            reached_at = NULL, remaining = d.remaining, details = d.details,
            version = d.new_version, updated_at = CURRENT_TIMESTAMP
          FROM d
         WHERE c.task_id = d.task_id
        RETURNING c.*, d.k, d.was
    )
    SELECT string_agg(json_build_object(
               'task_id', s.task_id, 'version', s.version,
               'total_responses', s.total_responses, 'remaining', s.remaining,
               'consensus_reached', s.consensus_reached,
               'agreement_percentage', s.agreement_percentage, 'final_answer', s.final_answer,
               'count_a', s.count_a, 'count_b', s.count_b, 'count_tie', s.count_tie,
               'reached_changed', s.consensus_reached IS DISTINCT FROM s.was)::text || E'\n',
               '' ORDER BY s.k),
           jsonb_agg(jsonb_build_object(
               'submission_id', ids[s.k], 'response_version', 1, 'replayed', false,
               'informed', false, 'question_type', q.question_type, 'reached_now', false,
               'consensus', (to_jsonb(s) - 'k' - 'was') || jsonb_build_object(
                   'consensus_threshold', t.consensus_threshold,
                   'min_agreement_percentage', t.min_agreement_percentage,
                   'allow_tie', t.allow_tie, 'status', t.status,
                   'question_type', q.question_type,
                   'reveal', coalesce(p.reveal, 'after_answer')))
               ORDER BY s.k)
      INTO payloads, results
      FROM stored s
      JOIN tasks t ON t.id = s.task_id
      JOIN questions q ON q.id = t.question_id
      LEFT JOIN dataset_policies p ON p.source_dataset = q.source_dataset;
    PERFORM set_config('whstudio.deferred_events',
                       coalesce(current_setting('whstudio.deferred_events', true), '')
                       || payloads, true);

    -- response.created, in the order given, where a webhook listens (submissions_webhook).
    IF EXISTS (SELECT 1 FROM webhooks WHERE is_active AND 'response.created' = ANY (events)) THEN
        PERFORM webhook_enqueue_v1('response.created', response_created_payload(s))
           FROM unnest(ids) WITH ORDINALITY AS i (id, k)
           JOIN submissions s ON s.id = i.id
          ORDER BY i.k;
    END IF;
    PERFORM set_config('whstudio.bulk_answers', 'off', true);
    -- In the group's order, JSON null for the answers left to the caller.
    RETURN (SELECT jsonb_agg(coalesce(results -> (j.k - 1)::integer, 'null'::jsonb)
                             ORDER BY i)
              FROM generate_series(1, whole) AS i
              LEFT JOIN unnest(picked) WITH ORDINALITY AS j (pos, k) ON j.pos = i);
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
    fast jsonb;
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
    -- The answers whose effects are each their own, set-based (revision 0023), all of them or
    -- none (a failure there rolls that attempt back whole); the others one by one, after. A
    -- group of one task (many annotators on one task at once) has at most one such answer, and
    -- one answer costs more set-based than alone, with its task's row locked meanwhile: such a
    -- group goes one by one, as before.
    IF current_setting('whstudio.group_fast', true) IS DISTINCT FROM 'off'
       AND (SELECT count(DISTINCT t) FROM unnest(p_tasks) AS t) > 1 THEN
        -- Every task's consensus row locked first, in task order: the answers stored
        -- set-based and those stored one by one after them lock nothing out of that order.
        PERFORM 1 FROM response_consensus c WHERE c.task_id = ANY (p_tasks)
          ORDER BY c.task_id FOR UPDATE OF c;
        BEGIN
            fast := submit_group_fast_v1(p_tasks, p_users, p_chosen, p_rankings, p_texts,
                                         p_transcripts, p_confidences, p_explanations, p_times,
                                         p_shown_orders, p_keys);
        EXCEPTION WHEN OTHERS THEN
            fast := NULL;
        END;
    END IF;
    FOR i IN 1 .. n LOOP
        one := CASE WHEN fast IS NOT NULL THEN fast -> (i - 1) END;
        IF one IS NOT NULL AND one <> 'null'::jsonb THEN
            first_stored := coalesce(first_stored, i);
            results := results || one;
            CONTINUE;
        END IF;
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

DROP FUNCTION submit_group_fast_v1(uuid[], uuid[], text[], jsonb[], text[], text[], integer[], text[], integer[], text[], text[]);

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

DROP FUNCTION response_created_payload(submissions);
