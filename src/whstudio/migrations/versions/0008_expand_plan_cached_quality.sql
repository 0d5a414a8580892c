-- squawk-ignore-file prefer-robust-stmts -- a revision runs in one transaction (migrations/env.py): it applies whole or not at all, and IF [NOT] EXISTS would hide a schema that drifted
-- squawk-ignore-file require-lock-timeout -- migrations/env.py sets lock_timeout before every revision
-- squawk-ignore-file require-statement-timeout -- a revision must run to the end; the lock_timeout env.py sets is what keeps it from stalling other sessions
-- migrate:up
-- Why: measured per answer with track_functions (benchmarks/submit_profile.py), two small SQL
-- functions cost more than the triggers around them: task_gold (about 0.3 ms) and
-- quality_reason (about 0.1 ms). PostgreSQL inlines neither (task_gold returns a record in a
-- FROM clause; quality_reason calls format(), which is only STABLE), so each call went through
-- the SQL function executor and was planned again every time. The same bodies in PL/pgSQL keep
-- their plans for the session. And annotator_stats' row is updated first and inserted only when
-- missing, instead of an INSERT ... ON CONFLICT attempted for every answer. Results unchanged.

-- whstudio.defer_events = 'silent': consensus_store neither notifies nor keeps the event. For
-- writers whose events nobody collects (the legacy migration's old-path writes and backfill):
-- keeping them appended to a setting copied the whole string on every change, quadratic in a
-- transaction that changes many tasks (an UPDATE of 57,000 legacy answers ran for minutes).
-- Subscribers learn of these changes from the version watch of the app's listener.

CREATE OR REPLACE FUNCTION consensus_store(r response_consensus, was_reached boolean) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    payload text;
    mode text := current_setting('whstudio.defer_events', true);
BEGIN
    IF NOT r.consensus_reached THEN
        r.reached_at := NULL;
    ELSIF NOT was_reached OR r.reached_at IS NULL THEN
        r.reached_at := CURRENT_TIMESTAMP;
    END IF;
    r.version := nextval('consensus_event_seq');
    UPDATE response_consensus c SET
        count_a = r.count_a, count_b = r.count_b, count_tie = r.count_tie,
        total_responses = r.total_responses,
        weight_a = r.weight_a, weight_b = r.weight_b, weight_tie = r.weight_tie,
        confidence_sum = r.confidence_sum, confidence_count = r.confidence_count,
        confidence_sum_a = r.confidence_sum_a, confidence_sum_b = r.confidence_sum_b,
        confidence_sum_tie = r.confidence_sum_tie,
        time_spent_sum = r.time_spent_sum, time_spent_count = r.time_spent_count,
        ranking_counts = r.ranking_counts, ranking_weights = r.ranking_weights,
        agreement_percentage = r.agreement_percentage,
        weighted_agreement_percentage = r.weighted_agreement_percentage,
        final_answer = r.final_answer, consensus_reached = r.consensus_reached,
        reached_at = r.reached_at, remaining = r.remaining, details = r.details,
        version = r.version, updated_at = CURRENT_TIMESTAMP
     WHERE c.task_id = r.task_id;
    IF mode = 'silent' THEN
        RETURN;  -- left to the listeners' version watch
    END IF;
    payload := json_build_object(
        'task_id', r.task_id, 'version', r.version, 'total_responses', r.total_responses,
        'remaining', r.remaining, 'consensus_reached', r.consensus_reached,
        'agreement_percentage', r.agreement_percentage, 'final_answer', r.final_answer,
        'count_a', r.count_a, 'count_b', r.count_b, 'count_tie', r.count_tie,
        'reached_changed', r.consensus_reached IS DISTINCT FROM was_reached)::text;
    IF mode = 'on' THEN
        PERFORM set_config('whstudio.deferred_events',
                           coalesce(current_setting('whstudio.deferred_events', true), '')
                           || payload || E'\n', true);
    ELSE
        PERFORM pg_notify('whstudio_consensus', payload);
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION task_gold(p_task uuid, OUT gold jsonb, OUT source text)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    SELECT coalesce(a.final_answer, CASE q.question_type
               WHEN 'pairwise_ab' THEN jsonb_build_object('chosen_response', q.gold_standard)
               WHEN 'ranking' THEN jsonb_build_object('ranking', q.gold_standard)
               WHEN 'text_generation' THEN jsonb_build_object('text', q.gold_standard)
               ELSE jsonb_build_object('transcript', q.gold_standard) END),
           CASE WHEN a.task_id IS NOT NULL THEN 'adjudication'
                WHEN q.gold_standard IS NOT NULL THEN 'gold' END
      INTO gold, source
      FROM tasks t
      JOIN questions q ON q.id = t.question_id
      LEFT JOIN task_adjudications a ON a.task_id = t.id
     WHERE t.id = p_task;
END
$$;

CREATE OR REPLACE FUNCTION quality_reason(m response_quality_metrics) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN CASE
        WHEN m.gold_correct IS NOT NULL AND m.gold_source = 'adjudication'
            THEN CASE WHEN m.gold_correct THEN 'matched the reviewer''s adjudication'
                      ELSE 'differed from the reviewer''s adjudication' END
        WHEN m.gold_correct IS NOT NULL
            THEN CASE WHEN m.gold_correct THEN 'passed a gold check'
                      ELSE 'failed a gold check' END
        WHEN m.agreed IS NOT NULL
            THEN format('%s a %s–%s consensus',
                        CASE WHEN m.agreed THEN 'agreed with' ELSE 'disagreed with' END,
                        CASE WHEN m.agreed THEN m.others_agreeing
                             ELSE m.others_total - m.others_agreeing END,
                        CASE WHEN m.agreed THEN m.others_total - m.others_agreeing
                             ELSE m.others_agreeing END)
    END;
END
$$;

CREATE OR REPLACE FUNCTION quality_apply_row(m response_quality_metrics, sign integer) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. 2 LOOP
        UPDATE annotator_stats SET
            answers = answers + sign,
            gold_answered = gold_answered + sign * (m.gold_correct IS NOT NULL)::int,
            gold_correct = gold_correct + sign * coalesce(m.gold_correct, false)::int,
            evaluated = evaluated + sign * (m.agreed IS NOT NULL)::int,
            agreed = agreed + sign * coalesce(m.agreed, false)::int,
            sided = sided + sign * (m.picked_left IS NOT NULL)::int,
            picked_left = picked_left + sign * coalesce(m.picked_left, false)::int,
            picked_a = picked_a + sign * coalesce(m.choice = 'A', false)::int,
            picked_b = picked_b + sign * coalesce(m.choice = 'B', false)::int,
            timed = timed + sign * (m.time_spent_seconds IS NOT NULL)::int,
            time_sum = time_sum + sign * coalesce(m.time_spent_seconds, 0),
            fast = fast + sign * ('fast' = ANY (m.outlier_reasons))::int
         WHERE user_id = m.user_id;
        EXIT WHEN FOUND;
        -- an annotator's first answer (another session may make the row meanwhile)
        INSERT INTO annotator_stats (user_id) VALUES (m.user_id) ON CONFLICT DO NOTHING;
    END LOOP;
END
$$;

-- migrate:down
CREATE OR REPLACE FUNCTION consensus_store(r response_consensus, was_reached boolean) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    payload text;
BEGIN
    IF NOT r.consensus_reached THEN
        r.reached_at := NULL;
    ELSIF NOT was_reached OR r.reached_at IS NULL THEN
        r.reached_at := CURRENT_TIMESTAMP;
    END IF;
    r.version := nextval('consensus_event_seq');
    UPDATE response_consensus c SET
        count_a = r.count_a, count_b = r.count_b, count_tie = r.count_tie,
        total_responses = r.total_responses,
        weight_a = r.weight_a, weight_b = r.weight_b, weight_tie = r.weight_tie,
        confidence_sum = r.confidence_sum, confidence_count = r.confidence_count,
        confidence_sum_a = r.confidence_sum_a, confidence_sum_b = r.confidence_sum_b,
        confidence_sum_tie = r.confidence_sum_tie,
        time_spent_sum = r.time_spent_sum, time_spent_count = r.time_spent_count,
        ranking_counts = r.ranking_counts, ranking_weights = r.ranking_weights,
        agreement_percentage = r.agreement_percentage,
        weighted_agreement_percentage = r.weighted_agreement_percentage,
        final_answer = r.final_answer, consensus_reached = r.consensus_reached,
        reached_at = r.reached_at, remaining = r.remaining, details = r.details,
        version = r.version, updated_at = CURRENT_TIMESTAMP
     WHERE c.task_id = r.task_id;
    payload := json_build_object(
        'task_id', r.task_id, 'version', r.version, 'total_responses', r.total_responses,
        'remaining', r.remaining, 'consensus_reached', r.consensus_reached,
        'agreement_percentage', r.agreement_percentage, 'final_answer', r.final_answer,
        'count_a', r.count_a, 'count_b', r.count_b, 'count_tie', r.count_tie,
        'reached_changed', r.consensus_reached IS DISTINCT FROM was_reached)::text;
    IF current_setting('whstudio.defer_events', true) = 'on' THEN
        PERFORM set_config('whstudio.deferred_events',
                           coalesce(current_setting('whstudio.deferred_events', true), '')
                           || payload || E'\n', true);
    ELSE
        PERFORM pg_notify('whstudio_consensus', payload);
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION task_gold(p_task uuid, OUT gold jsonb, OUT source text)
LANGUAGE sql STABLE AS $$
SELECT coalesce(a.final_answer, CASE q.question_type
           WHEN 'pairwise_ab' THEN jsonb_build_object('chosen_response', q.gold_standard)
           WHEN 'ranking' THEN jsonb_build_object('ranking', q.gold_standard)
           WHEN 'text_generation' THEN jsonb_build_object('text', q.gold_standard)
           ELSE jsonb_build_object('transcript', q.gold_standard) END),
       CASE WHEN a.task_id IS NOT NULL THEN 'adjudication'
            WHEN q.gold_standard IS NOT NULL THEN 'gold' END
  FROM tasks t
  JOIN questions q ON q.id = t.question_id
  LEFT JOIN task_adjudications a ON a.task_id = t.id
 WHERE t.id = p_task
$$;

CREATE OR REPLACE FUNCTION quality_reason(m response_quality_metrics) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
SELECT CASE
    WHEN m.gold_correct IS NOT NULL AND m.gold_source = 'adjudication'
        THEN CASE WHEN m.gold_correct THEN 'matched the reviewer''s adjudication'
                  ELSE 'differed from the reviewer''s adjudication' END
    WHEN m.gold_correct IS NOT NULL
        THEN CASE WHEN m.gold_correct THEN 'passed a gold check' ELSE 'failed a gold check' END
    WHEN m.agreed IS NOT NULL
        THEN format('%s a %s–%s consensus', CASE WHEN m.agreed THEN 'agreed with' ELSE 'disagreed with' END,
                    CASE WHEN m.agreed THEN m.others_agreeing ELSE m.others_total - m.others_agreeing END,
                    CASE WHEN m.agreed THEN m.others_total - m.others_agreeing ELSE m.others_agreeing END)
END
$$;

CREATE OR REPLACE FUNCTION quality_apply_row(m response_quality_metrics, sign integer) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO annotator_stats AS a (user_id) VALUES (m.user_id) ON CONFLICT DO NOTHING;
    UPDATE annotator_stats SET
        answers = answers + sign,
        gold_answered = gold_answered + sign * (m.gold_correct IS NOT NULL)::int,
        gold_correct = gold_correct + sign * coalesce(m.gold_correct, false)::int,
        evaluated = evaluated + sign * (m.agreed IS NOT NULL)::int,
        agreed = agreed + sign * coalesce(m.agreed, false)::int,
        sided = sided + sign * (m.picked_left IS NOT NULL)::int,
        picked_left = picked_left + sign * coalesce(m.picked_left, false)::int,
        picked_a = picked_a + sign * coalesce(m.choice = 'A', false)::int,
        picked_b = picked_b + sign * coalesce(m.choice = 'B', false)::int,
        timed = timed + sign * (m.time_spent_seconds IS NOT NULL)::int,
        time_sum = time_sum + sign * coalesce(m.time_spent_seconds, 0),
        fast = fast + sign * ('fast' = ANY (m.outlier_reasons))::int
     WHERE user_id = m.user_id;
END
$$;
