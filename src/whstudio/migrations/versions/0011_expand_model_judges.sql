-- squawk-ignore-file ban-drop-column -- only in the migrate:down half, which removes what the up half added
-- squawk-ignore-file ban-drop-function -- only in the migrate:down half, which removes what the up half added
-- squawk-ignore-file prefer-robust-stmts -- a revision runs in one transaction (migrations/env.py): it applies whole or not at all, and IF [NOT] EXISTS would hide a schema that drifted
-- squawk-ignore-file require-lock-timeout -- migrations/env.py sets lock_timeout before every revision
-- squawk-ignore-file require-statement-timeout -- a revision must run to the end; the lock_timeout env.py sets is what keeps it from stalling other sessions
-- squawk-ignore-file adding-not-nullable-field -- the new NOT NULL columns have constant defaults: PostgreSQL 11 and later add them without rewriting or scanning the table
-- migrate:up
-- Why: a model judge (an LLM whose verdicts are imported beside human ones, revision 0010's
-- users.kind = 'model') must never count as a person in consensus unless its task's rule says
-- so: its answers are kept and compared with people's (vote-pair agreement), but the live
-- consensus, its recompute, the batch methods and the quality counters read only the answers
-- that count. Whether one counts is decided when it arrives (a person's always; a model
-- judge's where tasks.count_model_votes) and stored on it, so no hot path looks it up again;
-- changing the rule or an account's kind moves the answers concerned.
ALTER TABLE public.submissions ADD COLUMN in_consensus boolean DEFAULT true NOT NULL;
ALTER TABLE public.tasks ADD COLUMN count_model_votes boolean DEFAULT false NOT NULL;

CREATE FUNCTION submissions_set_in_consensus() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM users u WHERE u.id = NEW.user_id AND u.kind = 'model') THEN
        NEW.in_consensus := coalesce(
            (SELECT t.count_model_votes FROM tasks t WHERE t.id = NEW.task_id), false);
    ELSE
        NEW.in_consensus := true;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER submissions_in_consensus BEFORE INSERT ON submissions
    FOR EACH ROW EXECUTE FUNCTION submissions_set_in_consensus();

-- An account that becomes a model judge (or a person again): its answers follow.
CREATE FUNCTION users_kind_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE submissions s
       SET in_consensus = (NEW.kind = 'person' OR t.count_model_votes)
      FROM tasks t
     WHERE s.user_id = NEW.id AND t.id = s.task_id
       AND s.in_consensus IS DISTINCT FROM (NEW.kind = 'person' OR t.count_model_votes);
    -- (every version moves, so that a revision revived later counts as its author's kind says;
    -- only a latest answer's change reaches consensus and quality)
    RETURN NULL;
END
$$;
CREATE TRIGGER users_kind_changed AFTER UPDATE OF kind ON users
    FOR EACH ROW WHEN (OLD.kind IS DISTINCT FROM NEW.kind)
    EXECUTE FUNCTION users_kind_changed();

CREATE OR REPLACE FUNCTION submissions_count_vote() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.is_latest AND NEW.in_consensus THEN
            PERFORM consensus_apply_vote(NEW, 1);
        END IF;
    ELSIF TG_OP = 'DELETE' THEN
        IF OLD.is_latest AND OLD.in_consensus THEN
            PERFORM consensus_apply_vote(OLD, -1);
        END IF;
    ELSIF (OLD.is_latest, OLD.in_consensus, OLD.task_id, OLD.chosen_response, OLD.confidence, OLD.time_spent_seconds,
           OLD.vote_weight, OLD.payload)
          IS DISTINCT FROM
          (NEW.is_latest, NEW.in_consensus, NEW.task_id, NEW.chosen_response, NEW.confidence, NEW.time_spent_seconds,
           NEW.vote_weight, NEW.payload) THEN
        IF OLD.is_latest AND OLD.in_consensus THEN
            PERFORM consensus_apply_vote(OLD, -1);
        END IF;
        IF NEW.is_latest AND NEW.in_consensus THEN
            PERFORM consensus_apply_vote(NEW, 1);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER submissions_count_vote ON submissions;
CREATE TRIGGER submissions_count_vote
    AFTER INSERT OR DELETE OR UPDATE OF is_latest, in_consensus, task_id, chosen_response,
        confidence, time_spent_seconds, vote_weight, payload
    ON submissions FOR EACH ROW EXECUTE FUNCTION submissions_count_vote();

CREATE OR REPLACE FUNCTION consensus_recompute_v1(p_task uuid) RETURNS response_consensus
LANGUAGE plpgsql STABLE AS $$
DECLARE
    r response_consensus;
    t record;
BEGIN
    SELECT * INTO r FROM response_consensus WHERE task_id = p_task;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT tk.consensus_threshold, tk.min_agreement_percentage, q.question_type,
           jsonb_array_length(q.content -> 'options') AS n
      INTO t
      FROM tasks tk JOIN questions q ON q.id = tk.question_id
     WHERE tk.id = p_task;
    SELECT count(*),
           count(*) FILTER (WHERE chosen_response = 'A'),
           count(*) FILTER (WHERE chosen_response = 'B'),
           count(*) FILTER (WHERE chosen_response = 'tie'),
           coalesce(sum(vote_weight) FILTER (WHERE chosen_response = 'A'), 0),
           coalesce(sum(vote_weight) FILTER (WHERE chosen_response = 'B'), 0),
           coalesce(sum(vote_weight) FILTER (WHERE chosen_response = 'tie'), 0),
           coalesce(sum(confidence), 0),
           count(confidence),
           coalesce(sum(confidence) FILTER (WHERE chosen_response = 'A'), 0),
           coalesce(sum(confidence) FILTER (WHERE chosen_response = 'B'), 0),
           coalesce(sum(confidence) FILTER (WHERE chosen_response = 'tie'), 0),
           coalesce(sum(time_spent_seconds), 0),
           count(time_spent_seconds)
      INTO r.total_responses, r.count_a, r.count_b, r.count_tie,
           r.weight_a, r.weight_b, r.weight_tie,
           r.confidence_sum, r.confidence_count,
           r.confidence_sum_a, r.confidence_sum_b, r.confidence_sum_tie,
           r.time_spent_sum, r.time_spent_count
      FROM submissions
     WHERE task_id = p_task AND is_latest AND in_consensus;
    IF t.question_type = 'ranking' THEN
        SELECT array_agg(coalesce(p.c, 0)::integer ORDER BY g.k),
               array_agg(coalesce(p.w, 0) ORDER BY g.k)
          INTO r.ranking_counts, r.ranking_weights
          FROM generate_series(0, t.n * t.n - 1) AS g(k)
          LEFT JOIN (
              SELECT hi.v::integer * t.n + lo.v::integer AS k, count(*) AS c, sum(s.vote_weight) AS w
                FROM submissions s,
                     jsonb_array_elements_text(s.payload -> 'ranking') WITH ORDINALITY AS hi(v, pos),
                     jsonb_array_elements_text(s.payload -> 'ranking') WITH ORDINALITY AS lo(v, pos)
               WHERE s.task_id = p_task AND s.is_latest AND s.in_consensus AND hi.pos < lo.pos
               GROUP BY 1
          ) p ON p.k = g.k;
    END IF;
    RETURN consensus_derive(r, t.consensus_threshold, t.min_agreement_percentage,
                            t.question_type, t.n);
END
$$;

CREATE OR REPLACE FUNCTION submissions_quality() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    g record;
    c response_consensus;
    v_agreed boolean;
    v_agreeing integer;
    v_total integer;
    median double precision;
    reasons text[] := '{}';
    user_flags text[];
    qtype text;
    verdict boolean;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF (OLD.task_id, OLD.chosen_response, OLD.shown_order, OLD.payload,
            OLD.time_spent_seconds)
           IS DISTINCT FROM (NEW.task_id, NEW.chosen_response, NEW.shown_order, NEW.payload,
                             NEW.time_spent_seconds) THEN
            -- The answer itself was edited in place (another writer, a repair): its row is
            -- made again below, as for a new answer.
            DELETE FROM response_quality_metrics WHERE submission_id = NEW.id;
        ELSIF (OLD.is_latest AND OLD.in_consensus) IS DISTINCT FROM
              (NEW.is_latest AND NEW.in_consensus) THEN
            -- Revised, revived, or moved in or out of consensus (a model judge's answer when
            -- its task's rule or its account's kind changes): the row counts or not, its
            -- verdicts kept.
            UPDATE response_quality_metrics SET counted = NEW.is_latest AND NEW.in_consensus
             WHERE submission_id = NEW.id;
            RETURN NULL;
        ELSE
            RETURN NULL;
        END IF;
    END IF;
    SELECT * INTO g FROM task_gold(NEW.task_id);
    SELECT * INTO c FROM response_consensus WHERE task_id = NEW.task_id;
    qtype := c.question_type;
    IF NEW.time_spent_seconds IS NOT NULL THEN
        SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x.t) INTO median
          FROM (SELECT s.time_spent_seconds AS t
                  FROM submissions s
                 WHERE s.task_id = NEW.task_id AND s.is_latest AND s.id <> NEW.id
                   AND s.time_spent_seconds IS NOT NULL
                 -- the order of submissions_latest_idx: a bounded index range, whatever the
                 -- task's size (an arbitrary but unbiased sample of its answers)
                 ORDER BY s.user_id
                 LIMIT 101) AS x
        HAVING count(*) >= 2;
        IF median IS NOT NULL AND NEW.time_spent_seconds < 0.25 * median THEN
            reasons := reasons || 'fast'::text;
        END IF;
    END IF;
    verdict := answer_matches(NEW, g.gold);
    -- A gold check is judged on the first answer: revising it cannot improve the verdict.
    IF g.source = 'gold' AND NEW.response_version > 1 THEN
        SELECT coalesce(answer_matches(s1, g.gold), verdict) INTO verdict
          FROM submissions s1
         WHERE s1.task_id = NEW.task_id AND s1.user_id = NEW.user_id
         ORDER BY s1.response_version
         LIMIT 1;
    END IF;
    SELECT flags INTO user_flags FROM annotator_stats WHERE user_id = NEW.user_id;
    reasons := reasons || ARRAY(SELECT f FROM unnest(user_flags) AS f
                                 WHERE f IN ('position_bias', 'same_answer', 'gold_failures',
                                             'below_chance'));
    IF g.source IS NULL AND NEW.chosen_response IS NOT NULL AND c.remaining = 0
       AND NEW.is_latest AND NEW.in_consensus THEN
        SELECT v.agreed, v.others_agreeing, v.others_total INTO v_agreed, v_agreeing, v_total
          FROM loo_verdict(NEW.chosen_response, c.count_a, c.count_b, c.count_tie) AS v;
    END IF;
    INSERT INTO response_quality_metrics (
        submission_id, task_id, user_id, question_type, choice, picked_left, gold_correct,
        gold_source, agreed, others_agreeing, others_total, agreement_with_consensus,
        time_spent_seconds, is_outlier, outlier_reasons, flagged_for_review, counted)
    VALUES (
        NEW.id, NEW.task_id, NEW.user_id, qtype, NEW.chosen_response,
        CASE WHEN NEW.chosen_response IN ('A', 'B') AND NEW.shown_order IS NOT NULL
             THEN (NEW.chosen_response = 'A') = (NEW.shown_order = 'AB') END,
        verdict, CASE WHEN verdict IS NOT NULL THEN g.source END,
        v_agreed, v_agreeing, v_total,
        CASE WHEN v_total > 0 THEN round(100.0 * v_agreeing / v_total, 2) END,
        NEW.time_spent_seconds, cardinality(reasons) > 0, reasons, cardinality(reasons) > 0,
        NEW.is_latest AND NEW.in_consensus);
    RETURN NULL;
END
$$;

-- Named to fire after submissions_count_vote, so the consensus row already has this answer.
DROP TRIGGER submissions_quality ON submissions;
CREATE TRIGGER submissions_quality
    AFTER INSERT OR UPDATE OF is_latest, in_consensus, task_id, chosen_response, shown_order,
        payload, time_spent_seconds
    ON submissions FOR EACH ROW EXECUTE FUNCTION submissions_quality();

CREATE OR REPLACE FUNCTION tasks_sync_consensus() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (OLD.status, OLD.priority, OLD.question_id) IS DISTINCT FROM
       (NEW.status, NEW.priority, NEW.question_id) THEN
        UPDATE response_consensus c
           SET task_active = NEW.status = 'active',
               task_status = NEW.status,
               task_priority = NEW.priority,
               has_gold = q.gold_standard IS NOT NULL,
               question_type = q.question_type,
               source_dataset = q.source_dataset
          FROM questions q
         WHERE c.task_id = NEW.id AND q.id = NEW.question_id;
    END IF;
    -- Changing the rule (or the question version) recomputes the task.
    IF (OLD.consensus_threshold, OLD.min_agreement_percentage, OLD.allow_tie, OLD.question_id)
       IS DISTINCT FROM
       (NEW.consensus_threshold, NEW.min_agreement_percentage, NEW.allow_tie, NEW.question_id) THEN
        PERFORM consensus_rebuild_v1(NEW.id);
    END IF;
    -- Whether model judges' votes count: their answers on the task follow (each changed row
    -- moves the consensus through submissions_count_vote).
    IF OLD.count_model_votes IS DISTINCT FROM NEW.count_model_votes THEN
        UPDATE submissions s
           SET in_consensus = NEW.count_model_votes
          FROM users u
         WHERE s.task_id = NEW.id AND u.id = s.user_id AND u.kind = 'model'
           AND s.in_consensus IS DISTINCT FROM NEW.count_model_votes;
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER tasks_sync_consensus ON tasks;
CREATE TRIGGER tasks_sync_consensus
    AFTER UPDATE OF status, priority, question_id, consensus_threshold, min_agreement_percentage,
        allow_tie, count_model_votes
    ON tasks FOR EACH ROW EXECUTE FUNCTION tasks_sync_consensus();

-- Answers already given by accounts marked as model judges (revision 0010 made them at import)
-- leave consensus now, moved by the triggers above like any later change.
UPDATE submissions s
   SET in_consensus = false
  FROM users u, tasks t
 WHERE u.id = s.user_id AND u.kind = 'model' AND t.id = s.task_id
   AND NOT t.count_model_votes AND s.in_consensus;

-- migrate:down
-- Every answer counts again, moved back by this revision's triggers before they go, so that the
-- consensus and quality rows agree with the earlier definitions restored below.
UPDATE submissions SET in_consensus = true WHERE NOT in_consensus;
DROP TRIGGER tasks_sync_consensus ON tasks;
CREATE TRIGGER tasks_sync_consensus
    AFTER UPDATE OF status, priority, question_id, consensus_threshold, min_agreement_percentage,
        allow_tie
    ON tasks FOR EACH ROW EXECUTE FUNCTION tasks_sync_consensus();
CREATE OR REPLACE FUNCTION tasks_sync_consensus() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (OLD.status, OLD.priority, OLD.question_id) IS DISTINCT FROM
       (NEW.status, NEW.priority, NEW.question_id) THEN
        UPDATE response_consensus c
           SET task_active = NEW.status = 'active',
               task_status = NEW.status,
               task_priority = NEW.priority,
               has_gold = q.gold_standard IS NOT NULL,
               question_type = q.question_type,
               source_dataset = q.source_dataset
          FROM questions q
         WHERE c.task_id = NEW.id AND q.id = NEW.question_id;
    END IF;
    -- Changing the rule (or the question version) recomputes the task.
    IF (OLD.consensus_threshold, OLD.min_agreement_percentage, OLD.allow_tie, OLD.question_id)
       IS DISTINCT FROM
       (NEW.consensus_threshold, NEW.min_agreement_percentage, NEW.allow_tie, NEW.question_id) THEN
        PERFORM consensus_rebuild_v1(NEW.id);
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER submissions_quality ON submissions;
CREATE TRIGGER submissions_quality
    AFTER INSERT OR UPDATE OF is_latest, task_id, chosen_response, shown_order, payload,
        time_spent_seconds
    ON submissions FOR EACH ROW EXECUTE FUNCTION submissions_quality();
CREATE OR REPLACE FUNCTION submissions_quality() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    g record;
    c response_consensus;
    v_agreed boolean;
    v_agreeing integer;
    v_total integer;
    median double precision;
    reasons text[] := '{}';
    user_flags text[];
    qtype text;
    verdict boolean;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF (OLD.task_id, OLD.chosen_response, OLD.shown_order, OLD.payload,
            OLD.time_spent_seconds)
           IS DISTINCT FROM (NEW.task_id, NEW.chosen_response, NEW.shown_order, NEW.payload,
                             NEW.time_spent_seconds) THEN
            -- The answer itself was edited in place (another writer, a repair): its row is
            -- made again below, as for a new answer.
            DELETE FROM response_quality_metrics WHERE submission_id = NEW.id;
        ELSIF OLD.is_latest AND NOT NEW.is_latest THEN
            UPDATE response_quality_metrics SET counted = false WHERE submission_id = NEW.id;
            RETURN NULL;
        ELSIF NOT OLD.is_latest AND NEW.is_latest THEN
            UPDATE response_quality_metrics SET counted = true WHERE submission_id = NEW.id;
            RETURN NULL;
        ELSE
            RETURN NULL;
        END IF;
    END IF;
    SELECT * INTO g FROM task_gold(NEW.task_id);
    SELECT * INTO c FROM response_consensus WHERE task_id = NEW.task_id;
    qtype := c.question_type;
    IF NEW.time_spent_seconds IS NOT NULL THEN
        SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x.t) INTO median
          FROM (SELECT s.time_spent_seconds AS t
                  FROM submissions s
                 WHERE s.task_id = NEW.task_id AND s.is_latest AND s.id <> NEW.id
                   AND s.time_spent_seconds IS NOT NULL
                 -- the order of submissions_latest_idx: a bounded index range, whatever the
                 -- task's size (an arbitrary but unbiased sample of its answers)
                 ORDER BY s.user_id
                 LIMIT 101) AS x
        HAVING count(*) >= 2;
        IF median IS NOT NULL AND NEW.time_spent_seconds < 0.25 * median THEN
            reasons := reasons || 'fast'::text;
        END IF;
    END IF;
    verdict := answer_matches(NEW, g.gold);
    -- A gold check is judged on the first answer: revising it cannot improve the verdict.
    IF g.source = 'gold' AND NEW.response_version > 1 THEN
        SELECT coalesce(answer_matches(s1, g.gold), verdict) INTO verdict
          FROM submissions s1
         WHERE s1.task_id = NEW.task_id AND s1.user_id = NEW.user_id
         ORDER BY s1.response_version
         LIMIT 1;
    END IF;
    SELECT flags INTO user_flags FROM annotator_stats WHERE user_id = NEW.user_id;
    reasons := reasons || ARRAY(SELECT f FROM unnest(user_flags) AS f
                                 WHERE f IN ('position_bias', 'same_answer', 'gold_failures',
                                             'below_chance'));
    IF g.source IS NULL AND NEW.chosen_response IS NOT NULL AND c.remaining = 0
       AND NEW.is_latest THEN
        SELECT v.agreed, v.others_agreeing, v.others_total INTO v_agreed, v_agreeing, v_total
          FROM loo_verdict(NEW.chosen_response, c.count_a, c.count_b, c.count_tie) AS v;
    END IF;
    INSERT INTO response_quality_metrics (
        submission_id, task_id, user_id, question_type, choice, picked_left, gold_correct,
        gold_source, agreed, others_agreeing, others_total, agreement_with_consensus,
        time_spent_seconds, is_outlier, outlier_reasons, flagged_for_review, counted)
    VALUES (
        NEW.id, NEW.task_id, NEW.user_id, qtype, NEW.chosen_response,
        CASE WHEN NEW.chosen_response IN ('A', 'B') AND NEW.shown_order IS NOT NULL
             THEN (NEW.chosen_response = 'A') = (NEW.shown_order = 'AB') END,
        verdict, CASE WHEN verdict IS NOT NULL THEN g.source END,
        v_agreed, v_agreeing, v_total,
        CASE WHEN v_total > 0 THEN round(100.0 * v_agreeing / v_total, 2) END,
        NEW.time_spent_seconds, cardinality(reasons) > 0, reasons, cardinality(reasons) > 0,
        NEW.is_latest);
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION consensus_recompute_v1(p_task uuid) RETURNS response_consensus
LANGUAGE plpgsql STABLE AS $$
DECLARE
    r response_consensus;
    t record;
BEGIN
    SELECT * INTO r FROM response_consensus WHERE task_id = p_task;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT tk.consensus_threshold, tk.min_agreement_percentage, q.question_type,
           jsonb_array_length(q.content -> 'options') AS n
      INTO t
      FROM tasks tk JOIN questions q ON q.id = tk.question_id
     WHERE tk.id = p_task;
    SELECT count(*),
           count(*) FILTER (WHERE chosen_response = 'A'),
           count(*) FILTER (WHERE chosen_response = 'B'),
           count(*) FILTER (WHERE chosen_response = 'tie'),
           coalesce(sum(vote_weight) FILTER (WHERE chosen_response = 'A'), 0),
           coalesce(sum(vote_weight) FILTER (WHERE chosen_response = 'B'), 0),
           coalesce(sum(vote_weight) FILTER (WHERE chosen_response = 'tie'), 0),
           coalesce(sum(confidence), 0),
           count(confidence),
           coalesce(sum(confidence) FILTER (WHERE chosen_response = 'A'), 0),
           coalesce(sum(confidence) FILTER (WHERE chosen_response = 'B'), 0),
           coalesce(sum(confidence) FILTER (WHERE chosen_response = 'tie'), 0),
           coalesce(sum(time_spent_seconds), 0),
           count(time_spent_seconds)
      INTO r.total_responses, r.count_a, r.count_b, r.count_tie,
           r.weight_a, r.weight_b, r.weight_tie,
           r.confidence_sum, r.confidence_count,
           r.confidence_sum_a, r.confidence_sum_b, r.confidence_sum_tie,
           r.time_spent_sum, r.time_spent_count
      FROM submissions
     WHERE task_id = p_task AND is_latest;
    IF t.question_type = 'ranking' THEN
        SELECT array_agg(coalesce(p.c, 0)::integer ORDER BY g.k),
               array_agg(coalesce(p.w, 0) ORDER BY g.k)
          INTO r.ranking_counts, r.ranking_weights
          FROM generate_series(0, t.n * t.n - 1) AS g(k)
          LEFT JOIN (
              SELECT hi.v::integer * t.n + lo.v::integer AS k, count(*) AS c, sum(s.vote_weight) AS w
                FROM submissions s,
                     jsonb_array_elements_text(s.payload -> 'ranking') WITH ORDINALITY AS hi(v, pos),
                     jsonb_array_elements_text(s.payload -> 'ranking') WITH ORDINALITY AS lo(v, pos)
               WHERE s.task_id = p_task AND s.is_latest AND hi.pos < lo.pos
               GROUP BY 1
          ) p ON p.k = g.k;
    END IF;
    RETURN consensus_derive(r, t.consensus_threshold, t.min_agreement_percentage,
                            t.question_type, t.n);
END
$$;

DROP TRIGGER submissions_count_vote ON submissions;
CREATE TRIGGER submissions_count_vote
    AFTER INSERT OR DELETE OR UPDATE OF is_latest, task_id, chosen_response, confidence,
        time_spent_seconds, vote_weight, payload
    ON submissions FOR EACH ROW EXECUTE FUNCTION submissions_count_vote();
CREATE OR REPLACE FUNCTION submissions_count_vote() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.is_latest THEN
            PERFORM consensus_apply_vote(NEW, 1);
        END IF;
    ELSIF TG_OP = 'DELETE' THEN
        IF OLD.is_latest THEN
            PERFORM consensus_apply_vote(OLD, -1);
        END IF;
    ELSIF (OLD.is_latest, OLD.task_id, OLD.chosen_response, OLD.confidence, OLD.time_spent_seconds,
           OLD.vote_weight, OLD.payload)
          IS DISTINCT FROM
          (NEW.is_latest, NEW.task_id, NEW.chosen_response, NEW.confidence, NEW.time_spent_seconds,
           NEW.vote_weight, NEW.payload) THEN
        IF OLD.is_latest THEN
            PERFORM consensus_apply_vote(OLD, -1);
        END IF;
        IF NEW.is_latest THEN
            PERFORM consensus_apply_vote(NEW, 1);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER users_kind_changed ON users;
DROP FUNCTION users_kind_changed();
DROP TRIGGER submissions_in_consensus ON submissions;
DROP FUNCTION submissions_set_in_consensus();
ALTER TABLE public.tasks DROP COLUMN count_model_votes;
ALTER TABLE public.submissions DROP COLUMN in_consensus;
