-- squawk-ignore-file ban-drop-column -- only in the migrate:down half, which removes what the up half added
-- squawk-ignore-file ban-drop-constraint -- only in the migrate:down half, which removes what the up half added
-- squawk-ignore-file ban-drop-function -- only in the migrate:down half, which removes what the up half added
-- squawk-ignore-file ban-drop-sequence -- only in the migrate:down half, which removes what the up half added
-- squawk-ignore-file ban-drop-table -- only in the migrate:down half, which removes what the up half added
-- squawk-ignore-file constraint-missing-not-valid -- the checked columns are added in the same ALTER with a default that passes, so the scan cannot fail
-- squawk-ignore-file prefer-bigint-over-int -- every int column here is bounded far below 2^31 by a CHECK or by what it counts per task
-- squawk-ignore-file prefer-robust-stmts -- a revision runs in one transaction (migrations/env.py): it applies whole or not at all, and IF [NOT] EXISTS would hide a schema that drifted
-- squawk-ignore-file require-concurrent-index-creation -- a revision runs in a transaction, where CONCURRENTLY is impossible; response_consensus held no deployment's data when this was written, and a legacy database gets these indexes CONCURRENTLY from `whstudio legacy expand`
-- squawk-ignore-file require-concurrent-index-deletion -- only in the migrate:down half; a revision runs in a transaction, where CONCURRENTLY is impossible
-- squawk-ignore-file require-lock-timeout -- migrations/env.py sets lock_timeout before every revision
-- squawk-ignore-file require-statement-timeout -- a revision must run to the end; the lock_timeout env.py sets is what keeps it from stalling other sessions
-- migrate:up
-- Real-time consensus. Every change to a task's latest answers adjusts that task's
-- response_consensus row in the same transaction (trigger on submissions), whoever writes them.
-- consensus_recompute_v1() rebuilds the same row from scratch with set-based SQL, independently of
-- the incremental arithmetic, and the tests check that the two always agree.

ALTER TABLE submissions
    ADD COLUMN vote_weight numeric(9, 6) NOT NULL DEFAULT 1,
    ADD CONSTRAINT submissions_vote_weight_check CHECK (vote_weight >= 0 AND vote_weight <= 100);

ALTER TABLE response_consensus
    ADD COLUMN confidence_count   integer NOT NULL DEFAULT 0,
    ADD COLUMN confidence_sum_a   integer NOT NULL DEFAULT 0,
    ADD COLUMN confidence_sum_b   integer NOT NULL DEFAULT 0,
    ADD COLUMN confidence_sum_tie integer NOT NULL DEFAULT 0,
    ADD COLUMN time_spent_count   integer NOT NULL DEFAULT 0,
    -- ranking tasks: n*n matrices, element [i*n + j + 1] counts rankings placing option i above j
    ADD COLUMN ranking_counts     integer[],
    ADD COLUMN ranking_weights    numeric(18, 6)[],
    -- the work queue, kept on this row so that `next task` is one index scan
    ADD COLUMN remaining          integer NOT NULL DEFAULT 0,
    ADD COLUMN task_active        boolean NOT NULL DEFAULT false,
    ADD COLUMN task_priority      integer NOT NULL DEFAULT 3,
    ADD COLUMN has_gold           boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT response_consensus_stat_counts_check
        CHECK (confidence_count >= 0 AND time_spent_count >= 0 AND remaining >= 0
               AND confidence_sum_a >= 0 AND confidence_sum_b >= 0 AND confidence_sum_tie >= 0);

CREATE SEQUENCE consensus_event_seq;

CREATE INDEX response_consensus_queue_idx
    ON response_consensus (has_gold, remaining, task_priority DESC, task_id)
    WHERE task_active AND remaining > 0;
CREATE INDEX response_consensus_gold_idx
    ON response_consensus (task_priority DESC, task_id)
    WHERE task_active AND has_gold;
CREATE INDEX response_consensus_version_idx ON response_consensus (version);

-- The derived half of a consensus row: agreement, final answer, reached, remaining. A pure function
-- of the stored aggregates and the task's rule, shared by the incremental and the batch paths.
CREATE FUNCTION consensus_derive(r response_consensus, threshold integer, min_agreement numeric,
                                 qtype text, n integer)
RETURNS response_consensus
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    top integer;
    leaders integer;
    wtop numeric;
    wtotal numeric;
    winner text;
    scores integer[];
    borda integer[];
    wagree numeric := 0;
    agree numeric := 0;
    pairs integer := 0;
    wpairs integer := 0;
    cij integer;
    cji integer;
    wij numeric;
    wji numeric;
    ordered integer[];
BEGIN
    r.agreement_percentage := 0;
    r.weighted_agreement_percentage := 0;
    r.final_answer := NULL;
    IF qtype = 'pairwise_ab' THEN
        top := greatest(r.count_a, r.count_b, r.count_tie);
        leaders := (r.count_a = top)::int + (r.count_b = top)::int + (r.count_tie = top)::int;
        IF r.total_responses > 0 THEN
            r.agreement_percentage := round(top * 100.0 / r.total_responses, 2);
        END IF;
        wtotal := r.weight_a + r.weight_b + r.weight_tie;
        wtop := greatest(r.weight_a, r.weight_b, r.weight_tie);
        IF wtotal > 0 THEN
            r.weighted_agreement_percentage := round(wtop * 100 / wtotal, 2);
        END IF;
        -- The leader counts only when it leads alone, and 'tie' is never a winner.
        IF top > 0 AND leaders = 1 THEN
            winner := CASE WHEN r.count_a = top THEN 'A' WHEN r.count_b = top THEN 'B' END;
        END IF;
        IF winner IS NOT NULL THEN
            r.final_answer := jsonb_build_object('chosen_response', winner);
        END IF;
    ELSIF qtype = 'ranking' AND r.total_responses > 0 AND n IS NOT NULL THEN
        -- Copeland's method (Condorcet-consistent): an option scores +1 for each option a
        -- majority ranks below it and -1 for each ranked above; ties are broken by Borda count.
        scores := array_fill(0, ARRAY[n]);
        borda := array_fill(0, ARRAY[n]);
        FOR i IN 0 .. n - 1 LOOP
            FOR j IN 0 .. n - 1 LOOP
                CONTINUE WHEN i = j;
                cij := r.ranking_counts[i * n + j + 1];
                cji := r.ranking_counts[j * n + i + 1];
                scores[i + 1] := scores[i + 1] + CASE WHEN cij > cji THEN 1 WHEN cij < cji THEN -1 ELSE 0 END;
                borda[i + 1] := borda[i + 1] + cij;
                IF i < j THEN
                    IF cij + cji > 0 THEN
                        pairs := pairs + 1;
                        agree := agree + greatest(cij, cji)::numeric / (cij + cji);
                    END IF;
                    wij := r.ranking_weights[i * n + j + 1];
                    wji := r.ranking_weights[j * n + i + 1];
                    IF wij + wji > 0 THEN
                        wpairs := wpairs + 1;
                        wagree := wagree + greatest(wij, wji) / (wij + wji);
                    END IF;
                END IF;
            END LOOP;
        END LOOP;
        SELECT array_agg(k - 1 ORDER BY scores[k] DESC, borda[k] DESC, k)
          INTO ordered FROM generate_series(1, n) AS k;
        IF pairs > 0 THEN
            r.agreement_percentage := round(agree * 100 / pairs, 2);
        END IF;
        IF wpairs > 0 THEN
            r.weighted_agreement_percentage := round(wagree * 100 / wpairs, 2);
        END IF;
        IF scores[ordered[1] + 1] <> scores[ordered[2] + 1]
           OR borda[ordered[1] + 1] <> borda[ordered[2] + 1] THEN
            r.final_answer := jsonb_build_object('ranking', to_jsonb(ordered));
        END IF;
    ELSIF qtype = 'voice_transcription' AND r.total_responses > 0 AND r.details ? 'transcription' THEN
        -- Word error rates are computed by the application (jiwer) into details.transcription.
        r.agreement_percentage := coalesce((r.details #>> '{transcription,agreement}')::numeric, 0);
        r.weighted_agreement_percentage := r.agreement_percentage;
        r.final_answer := jsonb_build_object('transcript', r.details #> '{transcription,medoid}');
    END IF;
    -- text_generation has no automatic winner: it goes to review.
    r.consensus_reached := r.final_answer IS NOT NULL
        AND r.total_responses >= threshold
        AND r.agreement_percentage >= min_agreement;
    r.remaining := greatest(threshold - r.total_responses, 0);
    RETURN r;
END
$$;

-- Write a consensus row, stamp it with the next event number and tell listeners.
CREATE FUNCTION consensus_store(r response_consensus, was_reached boolean) RETURNS void
LANGUAGE plpgsql AS $$
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
    PERFORM pg_notify('whstudio_consensus', json_build_object(
        'task_id', r.task_id, 'version', r.version, 'total_responses', r.total_responses,
        'remaining', r.remaining, 'consensus_reached', r.consensus_reached,
        'agreement_percentage', r.agreement_percentage, 'final_answer', r.final_answer,
        'count_a', r.count_a, 'count_b', r.count_b, 'count_tie', r.count_tie,
        'reached_changed', r.consensus_reached IS DISTINCT FROM was_reached)::text);
END
$$;

-- Add (sign = 1) or remove (sign = -1) one latest answer's vote.
CREATE FUNCTION consensus_apply_vote(s submissions, sign integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    r response_consensus;
    t record;
    was boolean;
    w numeric := s.vote_weight * sign;
    ranking jsonb;
    n integer;
    hi integer;
    lo integer;
BEGIN
    SELECT * INTO r FROM response_consensus WHERE task_id = s.task_id FOR UPDATE;
    SELECT tk.consensus_threshold, tk.min_agreement_percentage, q.question_type,
           jsonb_array_length(q.content -> 'options') AS n
      INTO t
      FROM tasks tk JOIN questions q ON q.id = tk.question_id
     WHERE tk.id = s.task_id;
    was := r.consensus_reached;
    r.total_responses := r.total_responses + sign;
    IF s.chosen_response = 'A' THEN
        r.count_a := r.count_a + sign;
        r.weight_a := r.weight_a + w;
        r.confidence_sum_a := r.confidence_sum_a + sign * coalesce(s.confidence, 0);
    ELSIF s.chosen_response = 'B' THEN
        r.count_b := r.count_b + sign;
        r.weight_b := r.weight_b + w;
        r.confidence_sum_b := r.confidence_sum_b + sign * coalesce(s.confidence, 0);
    ELSIF s.chosen_response = 'tie' THEN
        r.count_tie := r.count_tie + sign;
        r.weight_tie := r.weight_tie + w;
        r.confidence_sum_tie := r.confidence_sum_tie + sign * coalesce(s.confidence, 0);
    END IF;
    IF s.confidence IS NOT NULL THEN
        r.confidence_sum := r.confidence_sum + sign * s.confidence;
        r.confidence_count := r.confidence_count + sign;
    END IF;
    IF s.time_spent_seconds IS NOT NULL THEN
        r.time_spent_sum := r.time_spent_sum + sign * s.time_spent_seconds;
        r.time_spent_count := r.time_spent_count + sign;
    END IF;
    ranking := s.payload -> 'ranking';
    n := t.n;
    IF t.question_type = 'ranking' AND jsonb_typeof(ranking) = 'array' THEN
        FOR a IN 0 .. n - 2 LOOP
            hi := (ranking ->> a)::integer;
            FOR b IN a + 1 .. n - 1 LOOP
                lo := (ranking ->> b)::integer;
                r.ranking_counts[hi * n + lo + 1] := r.ranking_counts[hi * n + lo + 1] + sign;
                r.ranking_weights[hi * n + lo + 1] := r.ranking_weights[hi * n + lo + 1] + w;
            END LOOP;
        END LOOP;
    END IF;
    r := consensus_derive(r, t.consensus_threshold, t.min_agreement_percentage, t.question_type, n);
    PERFORM consensus_store(r, was);
END
$$;

CREATE FUNCTION submissions_count_vote() RETURNS trigger
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
CREATE TRIGGER submissions_count_vote
    AFTER INSERT OR DELETE OR UPDATE OF is_latest, task_id, chosen_response, confidence,
        time_spent_seconds, vote_weight, payload
    ON submissions FOR EACH ROW EXECUTE FUNCTION submissions_count_vote();

-- The consensus row of a task computed from scratch from its latest answers, without writing it.
-- Set-based on purpose: it shares no arithmetic with consensus_apply_vote, only the derivation.
CREATE FUNCTION consensus_recompute_v1(p_task uuid) RETURNS response_consensus
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

-- Recompute a task from scratch and store the result (rule changes, repairs, batch runs).
CREATE FUNCTION consensus_rebuild_v1(p_task uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    was boolean;
BEGIN
    SELECT consensus_reached INTO was FROM response_consensus WHERE task_id = p_task FOR UPDATE;
    IF FOUND THEN
        PERFORM consensus_store(consensus_recompute_v1(p_task), was);
    END IF;
END
$$;

-- A new task's consensus row, with its place in the work queue.
CREATE OR REPLACE FUNCTION tasks_create_consensus() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    q record;
BEGIN
    SELECT question_type, gold_standard IS NOT NULL AS has_gold,
           jsonb_array_length(content -> 'options') AS n
      INTO q FROM questions WHERE id = NEW.question_id;
    INSERT INTO response_consensus (task_id, remaining, task_active, task_priority, has_gold,
                                    ranking_counts, ranking_weights)
    VALUES (NEW.id, NEW.consensus_threshold, NEW.status = 'active', NEW.priority, q.has_gold,
            CASE WHEN q.question_type = 'ranking' THEN array_fill(0, ARRAY[q.n * q.n]) END,
            CASE WHEN q.question_type = 'ranking' THEN array_fill(0::numeric, ARRAY[q.n * q.n]) END);
    RETURN NULL;
END
$$;

CREATE FUNCTION tasks_sync_consensus() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (OLD.status, OLD.priority, OLD.question_id) IS DISTINCT FROM
       (NEW.status, NEW.priority, NEW.question_id) THEN
        UPDATE response_consensus
           SET task_active = NEW.status = 'active',
               task_priority = NEW.priority,
               has_gold = (SELECT gold_standard IS NOT NULL FROM questions WHERE id = NEW.question_id)
         WHERE task_id = NEW.id;
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
CREATE TRIGGER tasks_sync_consensus
    AFTER UPDATE OF status, priority, question_id, consensus_threshold, min_agreement_percentage,
        allow_tie
    ON tasks FOR EACH ROW EXECUTE FUNCTION tasks_sync_consensus();

CREATE FUNCTION questions_sync_gold() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (OLD.gold_standard IS NULL) <> (NEW.gold_standard IS NULL) THEN
        UPDATE response_consensus c SET has_gold = NEW.gold_standard IS NOT NULL
          FROM tasks t
         WHERE t.question_id = NEW.id AND c.task_id = t.id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER questions_sync_gold AFTER UPDATE OF gold_standard ON questions
    FOR EACH ROW EXECUTE FUNCTION questions_sync_gold();

-- Short leases: a task handed out by `next` counts as taken until the lease expires or the
-- annotator answers or skips, so that many annotators at once do not overshoot the threshold.
CREATE TABLE task_leases (
    task_id    uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (task_id, user_id)
);
CREATE INDEX task_leases_user_idx ON task_leases (user_id);

CREATE TABLE task_skips (
    task_id    uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reason     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (task_id, user_id),
    CONSTRAINT task_skips_reason_check CHECK (length(reason) BETWEEN 1 AND 500)
);
CREATE INDEX task_skips_user_idx ON task_skips (user_id);

-- Tasks that existed before this revision: their place in the work queue, then their consensus
-- counted from the answers they already have.
UPDATE response_consensus c
   SET task_active = t.status = 'active',
       task_priority = t.priority,
       has_gold = q.gold_standard IS NOT NULL,
       ranking_counts = CASE WHEN q.question_type = 'ranking'
           THEN array_fill(0, ARRAY[jsonb_array_length(q.content -> 'options') ^ 2]::integer[]) END,
       ranking_weights = CASE WHEN q.question_type = 'ranking'
           THEN array_fill(0::numeric, ARRAY[jsonb_array_length(q.content -> 'options') ^ 2]::integer[]) END
  FROM tasks t JOIN questions q ON q.id = t.question_id
 WHERE t.id = c.task_id;
SELECT consensus_rebuild_v1(task_id) FROM response_consensus;

-- Batch aggregation results (majority, weighted, Dawid-Skene), beside the real-time ones.
CREATE TABLE consensus_batch_results (
    task_id      uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    method       text NOT NULL,
    final_answer jsonb,
    confidence   double precision,
    run_id       uuid NOT NULL,
    computed_at  timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (task_id, method),
    CONSTRAINT consensus_batch_results_method_check
        CHECK (method IN ('majority', 'weighted', 'dawid_skene')),
    CONSTRAINT consensus_batch_results_confidence_check CHECK (confidence BETWEEN 0 AND 1)
);

-- migrate:down
DROP TABLE consensus_batch_results;
DROP TABLE task_skips;
DROP TABLE task_leases;
DROP TRIGGER questions_sync_gold ON questions;
DROP FUNCTION questions_sync_gold();
DROP TRIGGER tasks_sync_consensus ON tasks;
DROP FUNCTION tasks_sync_consensus();
CREATE OR REPLACE FUNCTION tasks_create_consensus() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO response_consensus (task_id) VALUES (NEW.id);
    RETURN NULL;
END
$$;
DROP FUNCTION consensus_rebuild_v1(uuid);
DROP FUNCTION consensus_recompute_v1(uuid);
DROP TRIGGER submissions_count_vote ON submissions;
DROP FUNCTION submissions_count_vote();
DROP FUNCTION consensus_apply_vote(submissions, integer);
DROP FUNCTION consensus_store(response_consensus, boolean);
DROP FUNCTION consensus_derive(response_consensus, integer, numeric, text, integer);
DROP INDEX response_consensus_version_idx;
DROP INDEX response_consensus_gold_idx;
DROP INDEX response_consensus_queue_idx;
DROP SEQUENCE consensus_event_seq;
ALTER TABLE response_consensus
    DROP CONSTRAINT response_consensus_stat_counts_check,
    DROP COLUMN has_gold,
    DROP COLUMN task_priority,
    DROP COLUMN task_active,
    DROP COLUMN remaining,
    DROP COLUMN ranking_weights,
    DROP COLUMN ranking_counts,
    DROP COLUMN time_spent_count,
    DROP COLUMN confidence_sum_tie,
    DROP COLUMN confidence_sum_b,
    DROP COLUMN confidence_sum_a,
    DROP COLUMN confidence_count;
ALTER TABLE submissions
    DROP CONSTRAINT submissions_vote_weight_check,
    DROP COLUMN vote_weight;
