-- squawk-ignore-file prefer-robust-stmts -- a revision runs in one transaction (migrations/env.py): it applies whole or not at all, and IF [NOT] EXISTS would hide a schema that drifted
-- squawk-ignore-file require-lock-timeout -- migrations/env.py sets lock_timeout before every revision
-- squawk-ignore-file require-statement-timeout -- a revision must run to the end; the lock_timeout env.py sets is what keeps it from stalling other sessions
-- squawk-ignore-file ban-drop-function -- only in the migrate:down half, which removes the function the up half added
-- migrate:up
-- Why: one annotator could hold leases on many tasks at once (one per dataset asked for) and
-- keep them by asking again and again, so those tasks waited for answers that never came.
-- next_task_v3 keeps at most p_max_leases live leases per annotator (handing out another ends
-- the oldest) and renews a lease only up to p_max_seconds after it was first handed out; a task
-- whose lease lived that long is not handed back to the same annotator while that lease row
-- stays (the next annotator to lease the task clears it), so it goes to someone else first.
-- A lease that ran out because its annotator went away comes back to them as before. next_task_v2
-- stays for app processes of the revision before, until they are gone.
CREATE FUNCTION next_task_v3(p_user uuid, p_lease_seconds integer, p_coin double precision, p_default_gold_rate double precision, p_dataset text, p_max_leases integer, p_max_seconds integer) RETURNS TABLE(task_id uuid, lease_expires_at timestamp with time zone, gold_rate double precision)
    LANGUAGE plpgsql
    AS $$
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
        -- renewed, but never past its whole life from when it was first handed out
        UPDATE task_leases l
           SET expires_at = least(CURRENT_TIMESTAMP + make_interval(secs => p_lease_seconds),
                                  l.created_at + make_interval(secs => p_max_seconds))
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
                     WHERE c.task_active AND c.has_gold AND c.remaining > 0
                       AND (p_dataset IS NULL OR c.source_dataset = p_dataset)
                       AND (t.expires_at IS NULL OR t.expires_at > CURRENT_TIMESTAMP)
                       AND NOT EXISTS (SELECT 1 FROM submissions s
                                        WHERE s.task_id = c.task_id AND s.user_id = p_user)
                       AND NOT EXISTS (SELECT 1 FROM task_skips k
                                        WHERE k.task_id = c.task_id AND k.user_id = p_user)
                       AND NOT EXISTS (SELECT 1 FROM task_leases o
                                        WHERE o.task_id = c.task_id AND o.user_id = p_user
                                          AND o.expires_at >= o.created_at
                                              + make_interval(secs => p_max_seconds))
                       AND (SELECT count(*) FROM task_leases l
                             WHERE l.task_id = c.task_id
                               AND l.expires_at > CURRENT_TIMESTAMP) < c.remaining
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
                       AND NOT EXISTS (SELECT 1 FROM task_leases o
                                        WHERE o.task_id = c.task_id AND o.user_id = p_user
                                          AND o.expires_at >= o.created_at
                                              + make_interval(secs => p_max_seconds))
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
                    SELECT count(*) INTO taken FROM task_leases l
                     WHERE l.task_id = cand.task_id AND l.expires_at > CURRENT_TIMESTAMP;
                    IF taken >= locked.remaining THEN
                        RAISE EXCEPTION USING ERRCODE = 'WH001';
                    END IF;
                    DELETE FROM task_leases l
                     WHERE l.task_id = cand.task_id AND l.expires_at <= CURRENT_TIMESTAMP;
                    -- at most p_max_leases live leases per annotator: the oldest go
                    DELETE FROM task_leases l
                     WHERE l.user_id = p_user AND l.task_id IN (
                           SELECT h.task_id FROM task_leases h
                            WHERE h.user_id = p_user AND h.expires_at > CURRENT_TIMESTAMP
                            ORDER BY h.created_at DESC, h.task_id
                           OFFSET greatest(p_max_leases - 1, 0));
                    INSERT INTO task_leases AS l (task_id, user_id, expires_at)
                    VALUES (cand.task_id, p_user,
                            least(CURRENT_TIMESTAMP + make_interval(secs => p_lease_seconds),
                                  CURRENT_TIMESTAMP + make_interval(secs => p_max_seconds)))
                    ON CONFLICT ON CONSTRAINT task_leases_pkey  -- the same annotator, at once
                        DO UPDATE SET expires_at = excluded.expires_at,
                                      created_at = excluded.created_at
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
DROP FUNCTION next_task_v3(uuid, integer, double precision, double precision, text, integer, integer);
