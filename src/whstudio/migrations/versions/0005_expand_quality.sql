-- squawk-ignore-file ban-drop-column -- only in the migrate:down half, which removes what the up half added
-- squawk-ignore-file ban-drop-function -- only in the migrate:down half, which removes what the up half added
-- squawk-ignore-file ban-drop-table -- only in the migrate:down half, which removes what the up half added
-- squawk-ignore-file ban-drop-view -- only in the migrate:down half, which removes what the up half added
-- squawk-ignore-file constraint-missing-not-valid -- the checked columns are added in the same ALTER with a default that passes, so the scan cannot fail
-- squawk-ignore-file prefer-bigint-over-int -- every int column here is bounded far below 2^31 by a CHECK or by what it counts per task
-- squawk-ignore-file prefer-robust-stmts -- a revision runs in one transaction (migrations/env.py): it applies whole or not at all, and IF [NOT] EXISTS would hide a schema that drifted
-- squawk-ignore-file require-concurrent-index-creation -- a revision runs in a transaction, where CONCURRENTLY is impossible; a legacy database gets these indexes CONCURRENTLY from `whstudio legacy expand`
-- squawk-ignore-file require-concurrent-index-deletion -- only in the migrate:down half; a revision runs in a transaction, where CONCURRENTLY is impossible
-- squawk-ignore-file require-lock-timeout -- migrations/env.py sets lock_timeout before every revision
-- squawk-ignore-file require-statement-timeout -- a revision must run to the end; the lock_timeout env.py sets is what keeps it from stalling other sessions
-- migrate:up
-- Annotator quality, reputation, review and adjudication.
--
-- Each latest answer has a response_quality_metrics row: its gold verdict, its agreement with the
-- other annotators of the task, its time and its outlier marks. annotator_stats holds per-annotator
-- sums over the rows that count (latest answers), kept by a trigger on those rows, so that a
-- reputation read is one row and a submission's cost does not grow with the task's size:
--   * gold verdicts are made when the answer arrives (or when a reviewer adjudicates the task);
--   * agreement is judged against the other annotators' plurality (leave-one-out) once the task
--     has the answers it asked for: all earlier answers at that moment (once per task), each later
--     answer on arrival;
--   * `whstudio quality refresh` re-judges every answer against its task's current state, exactly.
-- The live leave-one-out agreement of any answer is in the view response_quality_current (a
-- function of the answer and its task's consensus row: nothing to keep current).

ALTER TABLE response_quality_metrics
    ADD COLUMN counted         boolean NOT NULL DEFAULT true,
    ADD COLUMN question_type   text,
    ADD COLUMN choice          text,
    ADD COLUMN picked_left     boolean,
    ADD COLUMN agreed          boolean,
    ADD COLUMN others_agreeing integer,
    ADD COLUMN others_total    integer,
    ADD COLUMN gold_source     text,
    ADD CONSTRAINT response_quality_metrics_choice_check CHECK (choice IN ('A', 'B', 'tie')),
    ADD CONSTRAINT response_quality_metrics_gold_source_check
        CHECK (gold_source IN ('gold', 'adjudication')),
    ADD CONSTRAINT response_quality_metrics_others_check
        CHECK (others_agreeing >= 0 AND others_total >= others_agreeing);
CREATE INDEX response_quality_metrics_user_time_idx
    ON response_quality_metrics (user_id, computed_at DESC);

CREATE TABLE annotator_stats (
    user_id            uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    answers            integer NOT NULL DEFAULT 0,
    gold_answered      integer NOT NULL DEFAULT 0,
    gold_correct       integer NOT NULL DEFAULT 0,
    gold_fail_streak   integer NOT NULL DEFAULT 0,
    evaluated          integer NOT NULL DEFAULT 0,
    agreed             integer NOT NULL DEFAULT 0,
    sided              integer NOT NULL DEFAULT 0,
    picked_left        integer NOT NULL DEFAULT 0,
    picked_a           integer NOT NULL DEFAULT 0,
    picked_b           integer NOT NULL DEFAULT 0,
    timed              integer NOT NULL DEFAULT 0,
    time_sum           bigint NOT NULL DEFAULT 0,
    fast               integer NOT NULL DEFAULT 0,
    -- from the last batch Dawid-Skene run: the annotator's expected accuracy and label count
    ds_accuracy        double precision,
    ds_labels          integer,
    accuracy           double precision NOT NULL DEFAULT 0.7,
    accuracy_low       double precision NOT NULL DEFAULT 0,
    accuracy_high      double precision NOT NULL DEFAULT 1,
    flags              text[] NOT NULL DEFAULT '{}',
    updated_at         timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT annotator_stats_counts_check
        CHECK (answers >= 0 AND gold_answered >= gold_correct AND gold_correct >= 0
               AND evaluated >= agreed AND agreed >= 0 AND sided >= picked_left
               AND picked_left >= 0 AND picked_a >= 0 AND picked_b >= 0 AND timed >= 0
               AND time_sum >= 0 AND fast >= 0 AND gold_fail_streak >= 0),
    CONSTRAINT annotator_stats_ds_accuracy_check CHECK (ds_accuracy BETWEEN 0 AND 1),
    CONSTRAINT annotator_stats_ds_labels_check CHECK (ds_labels >= 0)
);

-- What moved each annotator's reputation, and by how much.
CREATE TABLE reputation_events (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    task_id       uuid REFERENCES tasks (id) ON DELETE SET NULL,
    submission_id uuid REFERENCES submissions (id) ON DELETE SET NULL,
    kind          text NOT NULL,
    delta         integer NOT NULL,
    score         integer NOT NULL,
    reason        text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT reputation_events_kind_check
        CHECK (kind IN ('gold', 'agreement', 'adjudication', 'revision', 'dawid_skene', 'refresh'))
);
CREATE INDEX reputation_events_user_idx ON reputation_events (user_id, id DESC);

-- Per-annotator skill estimated by a batch method from the data itself.
CREATE TABLE annotator_skill (
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    method      text NOT NULL,
    classes     text[] NOT NULL,
    confusion   jsonb NOT NULL,
    accuracy    double precision NOT NULL,
    labels      integer NOT NULL,
    run_id      uuid NOT NULL,
    computed_at timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (user_id, method),
    CONSTRAINT annotator_skill_method_check CHECK (method IN ('dawid_skene')),
    CONSTRAINT annotator_skill_accuracy_check CHECK (accuracy BETWEEN 0 AND 1),
    CONSTRAINT annotator_skill_labels_check CHECK (labels >= 0),
    CONSTRAINT annotator_skill_confusion_check CHECK (jsonb_typeof(confusion) = 'array')
);

-- A reviewer's final answer for a task: overrides its consensus and counts as gold from then on.
CREATE TABLE task_adjudications (
    task_id         uuid PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
    final_answer    jsonb NOT NULL,
    note            text NOT NULL,
    reviewer_id     uuid REFERENCES users (id) ON DELETE SET NULL,
    previous_status text NOT NULL,
    disputed_since  timestamptz,
    created_at      timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT task_adjudications_note_check CHECK (length(note) BETWEEN 1 AND 5000),
    CONSTRAINT task_adjudications_final_answer_check CHECK (jsonb_typeof(final_answer) = 'object')
);
CREATE INDEX task_adjudications_created_idx ON task_adjudications (created_at);

-- How often `next` serves gold checks, per source dataset (the setting's default elsewhere).
CREATE TABLE dataset_settings (
    source_dataset text PRIMARY KEY,
    gold_rate      double precision NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT dataset_settings_gold_rate_check CHECK (gold_rate >= 0 AND gold_rate <= 1),
    CONSTRAINT dataset_settings_source_dataset_check CHECK (length(source_dataset) BETWEEN 1 AND 200)
);

-- Disputed tasks for the review queue: all the answers asked for, and no consensus.
CREATE INDEX response_consensus_disputed_idx ON response_consensus (updated_at, task_id)
    WHERE remaining = 0 AND NOT consensus_reached AND task_status IN ('active', 'paused');

-- Reputation from the counters. Evidence: each gold check counts twice (the truth is known),
-- each agreement judgement once; where a Dawid-Skene estimate exists it replaces the agreement
-- judgements (it uses every answer, not only settled tasks). Prior Beta(7, 3): a newcomer starts
-- at the accuracy of a typical annotator, 0.7, and moves as evidence arrives. The score is
-- 1000 x the lower end of the 95% interval (normal approximation of the Beta posterior), so it
-- rewards volume only through certainty; the weight is the posterior's log-odds, scaled so that
-- a newcomer weighs 1.0, between 0.01 and 10.
CREATE FUNCTION reputation_of(s annotator_stats,
    OUT accuracy double precision, OUT low double precision, OUT high double precision,
    OUT score integer, OUT weight double precision)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    succ double precision := 2 * s.gold_correct;
    trials double precision := 2 * s.gold_answered;
    a double precision;
    b double precision;
    sd double precision;
BEGIN
    IF s.ds_accuracy IS NOT NULL AND s.ds_labels > 0 THEN
        succ := succ + s.ds_accuracy * s.ds_labels;
        trials := trials + s.ds_labels;
    ELSE
        succ := succ + s.agreed;
        trials := trials + s.evaluated;
    END IF;
    a := succ + 7;
    b := trials - succ + 3;
    accuracy := a / (a + b);
    sd := sqrt(a * b / ((a + b) ^ 2 * (a + b + 1)));
    low := greatest(0, accuracy - 1.96 * sd);
    high := least(1, accuracy + 1.96 * sd);
    score := round(1000 * low)::integer;
    weight := least(10, greatest(0.01, ln(accuracy / (1 - accuracy)) / ln(7.0 / 3.0)));
END
$$;

-- Annotator-level marks from the counters. A side or an answer "always" chosen is one that a fair
-- coin would give with z >= 4 over at least 20 answers and in at least 80% of them.
CREATE FUNCTION annotator_flags(s annotator_stats, low double precision, high double precision)
RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT array_remove(ARRAY[
    CASE WHEN s.sided >= 20 AND abs(2 * s.picked_left - s.sided) >= 4 * sqrt(s.sided)
              AND greatest(s.picked_left, s.sided - s.picked_left) >= 0.8 * s.sided
         THEN 'position_bias' END,
    CASE WHEN s.picked_a + s.picked_b >= 20
              AND abs(s.picked_a - s.picked_b) >= 4 * sqrt(s.picked_a + s.picked_b)
              AND greatest(s.picked_a, s.picked_b) >= 0.8 * (s.picked_a + s.picked_b)
         THEN 'same_answer' END,
    CASE WHEN s.gold_fail_streak >= 4 THEN 'gold_failures' END,
    CASE WHEN s.gold_answered + s.evaluated + coalesce(s.ds_labels, 0) >= 20 AND high < 0.5
         THEN 'below_chance' END,
    CASE WHEN s.gold_answered + s.evaluated + coalesce(s.ds_labels, 0) >= 30
              AND high >= 0.5 AND high < 0.65
         THEN 'near_chance' END,
    CASE WHEN s.fast >= 5 AND s.fast >= 0.3 * s.timed THEN 'fast' END], NULL)
$$;

-- Recompute an annotator's reputation and marks from their counters; record what moved it.
CREATE FUNCTION reputation_update_v1(p_user uuid, p_kind text, p_reason text, p_task uuid,
                                     p_submission uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    s annotator_stats;
    blank annotator_stats;
    r record;
    before integer;
BEGIN
    SELECT * INTO s FROM annotator_stats WHERE user_id = p_user FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT * INTO r FROM reputation_of(s);
    UPDATE annotator_stats
       SET accuracy = r.accuracy, accuracy_low = r.low, accuracy_high = r.high,
           flags = annotator_flags(s, r.low, r.high), updated_at = CURRENT_TIMESTAMP
     WHERE user_id = p_user;
    -- Deltas chain from the last recorded score; a newcomer's starts from the prior alone.
    SELECT e.score INTO before FROM reputation_events e
     WHERE e.user_id = p_user ORDER BY e.id DESC LIMIT 1;
    IF NOT FOUND THEN
        blank := s;
        blank.gold_answered := 0;
        blank.gold_correct := 0;
        blank.evaluated := 0;
        blank.agreed := 0;
        blank.ds_accuracy := NULL;
        blank.ds_labels := NULL;
        before := (reputation_of(blank)).score;
    END IF;
    UPDATE users SET reputation_score = r.score, reputation_weight = round(r.weight::numeric, 6)
     WHERE id = p_user
       AND (reputation_score, reputation_weight) IS DISTINCT FROM
           (r.score, round(r.weight::numeric, 6));
    IF p_reason IS NOT NULL THEN
        INSERT INTO reputation_events (user_id, task_id, submission_id, kind, delta, score, reason)
        VALUES (p_user, p_task, p_submission, p_kind, r.score - before, r.score, p_reason);
    END IF;
END
$$;

-- Keep annotator_stats equal to the sums over the rows that count.
CREATE FUNCTION quality_apply_row(m response_quality_metrics, sign integer) RETURNS void
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

CREATE FUNCTION quality_reason(m response_quality_metrics) RETURNS text
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

CREATE FUNCTION response_quality_metrics_count() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    kind text;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.counted THEN
        PERFORM quality_apply_row(OLD, -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.counted THEN
        PERFORM quality_apply_row(NEW, 1);
    END IF;
    IF TG_OP = 'DELETE' THEN
        PERFORM reputation_update_v1(OLD.user_id, NULL, NULL, NULL, NULL);
        RETURN NULL;
    END IF;
    -- A gold verdict moves the run of gold failures in the order answers arrive.
    IF NEW.counted AND NEW.gold_correct IS NOT NULL
       AND (TG_OP = 'INSERT' OR OLD.gold_correct IS DISTINCT FROM NEW.gold_correct
            OR NOT OLD.counted) THEN
        UPDATE annotator_stats
           SET gold_fail_streak = CASE WHEN NEW.gold_correct THEN 0 ELSE gold_fail_streak + 1 END
         WHERE user_id = NEW.user_id;
    END IF;
    kind := CASE
        WHEN NOT NEW.counted THEN 'revision'
        WHEN NEW.gold_source = 'adjudication' THEN 'adjudication'
        WHEN NEW.gold_correct IS NOT NULL THEN 'gold'
        ELSE 'agreement' END;
    IF TG_OP = 'INSERT' OR OLD.counted <> NEW.counted
       OR OLD.gold_correct IS DISTINCT FROM NEW.gold_correct
       OR OLD.agreed IS DISTINCT FROM NEW.agreed THEN
        PERFORM reputation_update_v1(
            NEW.user_id, kind,
            CASE WHEN NOT NEW.counted THEN
                     CASE WHEN OLD.gold_correct IS NOT NULL OR OLD.agreed IS NOT NULL
                          THEN 'revised an answer: its earlier verdict no longer counts' END
                 ELSE quality_reason(NEW) END,
            NEW.task_id, NEW.submission_id);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER response_quality_metrics_count
    AFTER INSERT OR DELETE OR UPDATE OF counted, gold_correct, agreed, picked_left, choice,
        time_spent_seconds, outlier_reasons
    ON response_quality_metrics FOR EACH ROW EXECUTE FUNCTION response_quality_metrics_count();

-- The leave-one-out verdict of a pairwise answer from its task's counts: the others' plurality,
-- if one choice leads it alone and is not 'tie'. NULL when the others have no winner.
CREATE FUNCTION loo_verdict(choice text, count_a integer, count_b integer, count_tie integer,
    OUT agreed boolean, OUT others_agreeing integer, OUT others_total integer)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    a integer := count_a - (choice = 'A')::int;
    b integer := count_b - (choice = 'B')::int;
    t integer := count_tie - (choice = 'tie')::int;
    top integer;
    winner text;
BEGIN
    IF a < 0 OR b < 0 OR t < 0 THEN
        RETURN;  -- the answer is not among the counts: nothing to judge it by
    END IF;
    others_total := a + b + t;
    others_agreeing := CASE choice WHEN 'A' THEN a WHEN 'B' THEN b ELSE t END;
    top := greatest(a, b, t);
    IF top > 0 AND (a = top)::int + (b = top)::int + (t = top)::int = 1 AND t <> top THEN
        winner := CASE WHEN a = top THEN 'A' ELSE 'B' END;
        agreed := choice = winner;
    END IF;
END
$$;

-- Judge the answers of a task that has all the answers it asked for and are not judged yet.
CREATE FUNCTION quality_settle_v1(p_task uuid) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM response_consensus WHERE task_id = p_task AND remaining = 0) THEN
        RETURN;
    END IF;
    -- Lock the voters' counters in one order, so that two tasks settling at once cannot
    -- deadlock on each other's annotators.
    INSERT INTO annotator_stats (user_id)
    SELECT DISTINCT s.user_id FROM submissions s WHERE s.task_id = p_task AND s.is_latest
    ON CONFLICT DO NOTHING;
    PERFORM 1 FROM annotator_stats a
     WHERE a.user_id IN (SELECT s.user_id FROM submissions s
                          WHERE s.task_id = p_task AND s.is_latest)
     ORDER BY a.user_id FOR NO KEY UPDATE;
    UPDATE response_quality_metrics m
       SET agreed = x.agreed, others_agreeing = x.others_agreeing,
           others_total = x.others_total,
           agreement_with_consensus = CASE WHEN x.others_total > 0
               THEN round(100.0 * x.others_agreeing / x.others_total, 2) END,
           computed_at = CURRENT_TIMESTAMP
      FROM (SELECT r.submission_id, v.agreed, v.others_agreeing, v.others_total
              FROM response_quality_metrics r
              JOIN response_consensus c ON c.task_id = r.task_id,
                   LATERAL loo_verdict(r.choice, c.count_a, c.count_b, c.count_tie) v
             WHERE r.task_id = p_task AND r.counted AND r.choice IS NOT NULL
               AND r.gold_correct IS NULL AND r.others_total IS NULL) AS x
     WHERE m.submission_id = x.submission_id;
END
$$;

CREATE FUNCTION response_consensus_settle() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM quality_settle_v1(NEW.task_id);
    RETURN NULL;
END
$$;
CREATE TRIGGER response_consensus_settle AFTER UPDATE OF remaining ON response_consensus
    FOR EACH ROW WHEN (OLD.remaining > 0 AND NEW.remaining = 0)
    EXECUTE FUNCTION response_consensus_settle();

-- The gold answer a task's answers are judged by: a reviewer's adjudication, else the question's.
CREATE FUNCTION task_gold(p_task uuid, OUT gold jsonb, OUT source text)
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

-- Whether an answer matches a gold answer of its type. Texts are not judged automatically;
-- transcripts match when equal after case and white space are normalised.
CREATE FUNCTION answer_matches(s submissions, gold jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
SELECT CASE
    WHEN gold IS NULL THEN NULL
    WHEN gold ? 'chosen_response' THEN s.chosen_response = gold ->> 'chosen_response'
    WHEN gold ? 'ranking' THEN s.payload -> 'ranking' = gold -> 'ranking'
    WHEN gold ? 'transcript' THEN
        lower(regexp_replace(btrim(s.payload ->> 'transcript'), '\s+', ' ', 'g'))
        = lower(regexp_replace(btrim(gold ->> 'transcript'), '\s+', ' ', 'g'))
END
$$;

-- A latest answer's quality row, made when the answer arrives: O(1) in the task's size (the
-- median time is taken over at most 101 of the task's other answers).
CREATE FUNCTION submissions_quality() RETURNS trigger
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
-- Named to fire after submissions_count_vote, so the consensus row already has this answer.
CREATE TRIGGER submissions_quality
    AFTER INSERT OR UPDATE OF is_latest, task_id, chosen_response, shown_order, payload,
        time_spent_seconds
    ON submissions FOR EACH ROW EXECUTE FUNCTION submissions_quality();

-- The live leave-one-out agreement of every answer: a function of the answer and its task's row.
CREATE VIEW response_quality_current AS
SELECT m.submission_id, m.task_id, m.user_id, m.counted, m.question_type, m.choice,
       m.picked_left, m.gold_correct, m.gold_source, m.agreed, m.time_spent_seconds,
       m.is_outlier, m.outlier_reasons, m.flagged_for_review, m.computed_at,
       v.others_total AS others_now,
       v.others_agreeing AS others_agreeing_now,
       CASE WHEN v.others_total > 0
            THEN round(100.0 * v.others_agreeing / v.others_total, 2) END AS agreement_now
  FROM response_quality_metrics m
  JOIN response_consensus c ON c.task_id = m.task_id
  LEFT JOIN LATERAL loo_verdict(m.choice, c.count_a, c.count_b, c.count_tie) v
         ON m.choice IS NOT NULL;

-- Quality rows for answers that existed before this revision, and their counters, set-based
-- (the row trigger would update the counters once per answer); `whstudio quality refresh`
-- then judges them.
ALTER TABLE response_quality_metrics DISABLE TRIGGER response_quality_metrics_count;
INSERT INTO response_quality_metrics (submission_id, task_id, user_id, question_type, choice,
                                      picked_left, time_spent_seconds, counted)
SELECT s.id, s.task_id, s.user_id, q.question_type, s.chosen_response,
       CASE WHEN s.chosen_response IN ('A', 'B') AND s.shown_order IS NOT NULL
            THEN (s.chosen_response = 'A') = (s.shown_order = 'AB') END,
       s.time_spent_seconds, s.is_latest
  FROM submissions s JOIN questions q ON q.id = s.question_id
ON CONFLICT (submission_id) DO NOTHING;
ALTER TABLE response_quality_metrics ENABLE TRIGGER response_quality_metrics_count;
INSERT INTO annotator_stats (user_id, answers, sided, picked_left, picked_a, picked_b, timed,
                             time_sum)
SELECT m.user_id, count(*), count(m.picked_left), count(*) FILTER (WHERE m.picked_left),
       count(*) FILTER (WHERE m.choice = 'A'), count(*) FILTER (WHERE m.choice = 'B'),
       count(m.time_spent_seconds), coalesce(sum(m.time_spent_seconds), 0)
  FROM response_quality_metrics m
 WHERE m.counted
 GROUP BY m.user_id;

-- The next task, with the gold rate of the dataset worked on and an optional dataset filter.
CREATE FUNCTION next_task_v2(p_user uuid, p_lease_seconds integer, p_coin double precision,
                             p_default_gold_rate double precision, p_dataset text)
RETURNS TABLE (task_id uuid, lease_expires_at timestamptz, gold_rate double precision)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    cand record;
    locked record;
    taken integer;
    busy boolean;
    kinds boolean[];
    gold boolean;
    rate double precision;
    candidates refcursor;
BEGIN
    SELECT d.gold_rate INTO rate FROM dataset_settings d WHERE d.source_dataset = p_dataset;
    rate := coalesce(rate, p_default_gold_rate);
    kinds := CASE WHEN p_coin < rate THEN ARRAY[true, false] ELSE ARRAY[false, true] END;
    SELECT l.task_id INTO cand
      FROM task_leases l
      JOIN response_consensus c ON c.task_id = l.task_id
     WHERE l.user_id = p_user AND l.expires_at > CURRENT_TIMESTAMP AND c.task_active
       AND (p_dataset IS NULL OR c.source_dataset = p_dataset)
       AND NOT EXISTS (SELECT 1 FROM submissions s
                        WHERE s.task_id = l.task_id AND s.user_id = p_user)
     ORDER BY l.created_at
     LIMIT 1;
    IF FOUND THEN
        UPDATE task_leases l
           SET expires_at = CURRENT_TIMESTAMP + make_interval(secs => p_lease_seconds)
         WHERE l.task_id = cand.task_id AND l.user_id = p_user
        RETURNING l.task_id, l.expires_at INTO task_id, lease_expires_at;
        gold_rate := rate;
        RETURN NEXT;
        RETURN;
    END IF;
    FOR attempt IN 1 .. 6 LOOP
        busy := false;
        FOREACH gold IN ARRAY kinds LOOP
            IF gold THEN
                OPEN candidates FOR
                    SELECT c.task_id
                      FROM response_consensus c
                      JOIN tasks t ON t.id = c.task_id
                     WHERE c.task_active AND c.has_gold
                       AND (p_dataset IS NULL OR c.source_dataset = p_dataset)
                       AND (t.expires_at IS NULL OR t.expires_at > CURRENT_TIMESTAMP)
                       AND NOT EXISTS (SELECT 1 FROM submissions s
                                        WHERE s.task_id = c.task_id AND s.user_id = p_user)
                       AND NOT EXISTS (SELECT 1 FROM task_skips k
                                        WHERE k.task_id = c.task_id AND k.user_id = p_user)
                     ORDER BY c.task_priority DESC, c.task_id
                     LIMIT 8;
            ELSE
                OPEN candidates FOR
                    SELECT c.task_id
                      FROM response_consensus c
                      JOIN tasks t ON t.id = c.task_id
                     WHERE c.task_active AND NOT c.has_gold AND c.remaining > 0
                       AND (p_dataset IS NULL OR c.source_dataset = p_dataset)
                       AND (t.expires_at IS NULL OR t.expires_at > CURRENT_TIMESTAMP)
                       AND NOT EXISTS (SELECT 1 FROM submissions s
                                        WHERE s.task_id = c.task_id AND s.user_id = p_user)
                       AND NOT EXISTS (SELECT 1 FROM task_skips k
                                        WHERE k.task_id = c.task_id AND k.user_id = p_user)
                       AND (SELECT count(*) FROM task_leases l
                             WHERE l.task_id = c.task_id
                               AND l.expires_at > CURRENT_TIMESTAMP) < c.remaining
                     ORDER BY c.has_gold, c.remaining, c.task_priority DESC, c.task_id
                     LIMIT 8;
            END IF;
            LOOP
                FETCH candidates INTO cand;
                EXIT WHEN NOT FOUND;
                BEGIN
                    SELECT c.remaining, c.task_active INTO locked
                      FROM response_consensus c
                     WHERE c.task_id = cand.task_id
                       FOR NO KEY UPDATE SKIP LOCKED;
                    IF NOT FOUND THEN
                        busy := true;
                        CONTINUE;
                    END IF;
                    IF NOT locked.task_active THEN
                        RAISE EXCEPTION USING ERRCODE = 'WH001';
                    END IF;
                    IF NOT gold THEN
                        SELECT count(*) INTO taken FROM task_leases l
                         WHERE l.task_id = cand.task_id AND l.expires_at > CURRENT_TIMESTAMP;
                        IF taken >= locked.remaining THEN
                            RAISE EXCEPTION USING ERRCODE = 'WH001';
                        END IF;
                    END IF;
                    DELETE FROM task_leases l
                     WHERE l.task_id = cand.task_id AND l.expires_at <= CURRENT_TIMESTAMP;
                    INSERT INTO task_leases AS l (task_id, user_id, expires_at)
                    VALUES (cand.task_id, p_user,
                            CURRENT_TIMESTAMP + make_interval(secs => p_lease_seconds))
                    ON CONFLICT ON CONSTRAINT task_leases_pkey
                        DO UPDATE SET expires_at = excluded.expires_at
                    RETURNING l.task_id, l.expires_at INTO task_id, lease_expires_at;
                    gold_rate := rate;
                    RETURN NEXT;
                    RETURN;
                EXCEPTION WHEN SQLSTATE 'WH001' THEN
                    NULL;
                END;
            END LOOP;
            CLOSE candidates;
        END LOOP;
        EXIT WHEN NOT busy;
        PERFORM pg_sleep(0.005 * attempt);
    END LOOP;
END
$$;

-- migrate:down
DROP FUNCTION next_task_v2(uuid, integer, double precision, double precision, text);
DROP VIEW response_quality_current;
DROP TRIGGER submissions_quality ON submissions;
DROP FUNCTION submissions_quality();
DROP FUNCTION answer_matches(submissions, jsonb);
DROP FUNCTION task_gold(uuid);
DROP TRIGGER response_consensus_settle ON response_consensus;
DROP FUNCTION response_consensus_settle();
DROP FUNCTION quality_settle_v1(uuid);
DROP FUNCTION loo_verdict(text, integer, integer, integer);
DROP TRIGGER response_quality_metrics_count ON response_quality_metrics;
DROP FUNCTION response_quality_metrics_count();
DROP FUNCTION quality_reason(response_quality_metrics);
DROP FUNCTION quality_apply_row(response_quality_metrics, integer);
DROP FUNCTION reputation_update_v1(uuid, text, text, uuid, uuid);
DROP FUNCTION annotator_flags(annotator_stats, double precision, double precision);
DROP FUNCTION reputation_of(annotator_stats);
DROP INDEX response_consensus_disputed_idx;
DROP TABLE dataset_settings;
DROP TABLE task_adjudications;
DROP TABLE annotator_skill;
DROP TABLE reputation_events;
DROP TABLE annotator_stats;
DELETE FROM response_quality_metrics;
DROP INDEX response_quality_metrics_user_time_idx;
ALTER TABLE response_quality_metrics
    DROP COLUMN counted, DROP COLUMN question_type, DROP COLUMN choice, DROP COLUMN picked_left,
    DROP COLUMN agreed, DROP COLUMN others_agreeing, DROP COLUMN others_total,
    DROP COLUMN gold_source;
