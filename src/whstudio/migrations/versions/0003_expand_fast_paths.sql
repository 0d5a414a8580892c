-- squawk-ignore-file ban-drop-function -- only in the migrate:down half, which removes what the up half added
-- squawk-ignore-file prefer-robust-stmts -- a revision runs in one transaction (migrations/env.py): it applies whole or not at all, and IF [NOT] EXISTS would hide a schema that drifted
-- squawk-ignore-file require-concurrent-index-creation -- a revision runs in a transaction, where CONCURRENTLY is impossible; a legacy database gets this index CONCURRENTLY from `whstudio legacy expand`
-- squawk-ignore-file require-concurrent-index-deletion -- only in the migrate:down half; a revision runs in a transaction, where CONCURRENTLY is impossible
-- squawk-ignore-file require-lock-timeout -- migrations/env.py sets lock_timeout before every revision
-- squawk-ignore-file require-statement-timeout -- a revision must run to the end; the lock_timeout env.py sets is what keeps it from stalling other sessions
-- migrate:up
-- The two hot paths as one database call each: answering a task and taking the next one. Every
-- round trip saved on these is a request a 2-core machine can serve instead. Errors carry their
-- own SQLSTATE (WH404, WH409, WH422) and name the offending field in HINT, which the application
-- maps to HTTP statuses.

CREATE FUNCTION submit_answer_v1(
    p_task uuid, p_user uuid, p_chosen text, p_ranking jsonb, p_text text, p_transcript text,
    p_confidence integer, p_explanation text, p_time integer, p_shown_order text, p_key text)
RETURNS jsonb
LANGUAGE plpgsql AS $$
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

-- The next task for an annotator: a live lease they hold, else the open task closest to
-- consensus (or a gold check when asked), reserved under a row lock so that concurrent callers
-- cannot take the same last place. NULL when nothing is left. Candidates locked by someone else
-- at that instant are looked at again a few milliseconds later before giving up.
CREATE FUNCTION next_task_v1(p_user uuid, p_lease_seconds integer, p_gold_first boolean)
RETURNS TABLE (task_id uuid, lease_expires_at timestamptz)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    cand record;
    locked record;
    taken integer;
    busy boolean;
    kinds boolean[] := CASE WHEN p_gold_first THEN ARRAY[true, false] ELSE ARRAY[false, true] END;
    gold boolean;
    candidates refcursor;
BEGIN
    SELECT l.task_id INTO cand
      FROM task_leases l
      JOIN response_consensus c ON c.task_id = l.task_id
     WHERE l.user_id = p_user AND l.expires_at > CURRENT_TIMESTAMP AND c.task_active
       AND NOT EXISTS (SELECT 1 FROM submissions s
                        WHERE s.task_id = l.task_id AND s.user_id = p_user)
     ORDER BY l.created_at
     LIMIT 1;
    IF FOUND THEN
        UPDATE task_leases l
           SET expires_at = CURRENT_TIMESTAMP + make_interval(secs => p_lease_seconds)
         WHERE l.task_id = cand.task_id AND l.user_id = p_user
        RETURNING l.task_id, l.expires_at INTO task_id, lease_expires_at;
        RETURN NEXT;
        RETURN;
    END IF;
    FOR attempt IN 1 .. 6 LOOP
        busy := false;
        FOREACH gold IN ARRAY kinds LOOP
            -- Two statements with fixed orders, each matching its index whatever plan
            -- PL/pgSQL caches (a generic plan cannot fold a CASE on `gold` into an index order).
            IF gold THEN
                OPEN candidates FOR
                    SELECT c.task_id
                      FROM response_consensus c
                      JOIN tasks t ON t.id = c.task_id
                     WHERE c.task_active AND c.has_gold
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
                -- A candidate turned down is turned down inside a subtransaction whose rollback
                -- releases its row lock at once; holding it to the end of the call would make
                -- every concurrent caller see it busy.
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
                        -- Counted after the lock: sees every lease committed before we got it.
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
                    RETURN NEXT;
                    RETURN;
                EXCEPTION WHEN SQLSTATE 'WH001' THEN
                    NULL;  -- not this one; its lock is gone with the subtransaction
                END;
            END LOOP;
            CLOSE candidates;
        END LOOP;
        EXIT WHEN NOT busy;
        PERFORM pg_sleep(0.005 * attempt);
    END LOOP;
END
$$;

-- The dashboard's default order (newest first) without a sort.
CREATE INDEX tasks_created_idx ON tasks (created_at, id);

-- migrate:down
DROP INDEX tasks_created_idx;
DROP FUNCTION next_task_v1(uuid, integer, boolean);
DROP FUNCTION submit_answer_v1(uuid, uuid, text, jsonb, text, text, integer, text, integer, text,
                               text);
