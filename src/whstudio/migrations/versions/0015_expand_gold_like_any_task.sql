-- squawk-ignore-file prefer-robust-stmts -- a revision runs in one transaction (migrations/env.py): it applies whole or not at all, and IF [NOT] EXISTS would hide a schema that drifted
-- squawk-ignore-file require-lock-timeout -- migrations/env.py sets lock_timeout before every revision
-- squawk-ignore-file require-statement-timeout -- a revision must run to the end; the lock_timeout env.py sets is what keeps it from stalling other sessions
-- migrate:up
-- Why: a gold check was handed out to every annotator, long after it had the answers its rule
-- asks for, so it read "12 of 3 answers" on its card, on the answering page and in its
-- consensus: an annotator could tell a gold check from any other task. It is now handed out
-- like any task, while it needs answers (and not beyond what open leases will bring), first at
-- the dataset's gold rate. Nothing about its progress or consensus stands out.
CREATE OR REPLACE FUNCTION next_task_v2(p_user uuid, p_lease_seconds integer, p_coin double precision, p_default_gold_rate double precision, p_dataset text) RETURNS TABLE(task_id uuid, lease_expires_at timestamp with time zone, gold_rate double precision)
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
                     WHERE c.task_active AND c.has_gold AND c.remaining > 0
                       AND (p_dataset IS NULL OR c.source_dataset = p_dataset)
                       AND (t.expires_at IS NULL OR t.expires_at > CURRENT_TIMESTAMP)
                       AND NOT EXISTS (SELECT 1 FROM submissions s
                                        WHERE s.task_id = c.task_id AND s.user_id = p_user)
                       AND NOT EXISTS (SELECT 1 FROM task_skips k
                                        WHERE k.task_id = c.task_id AND k.user_id = p_user)
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
CREATE OR REPLACE FUNCTION next_task_v2(p_user uuid, p_lease_seconds integer, p_coin double precision, p_default_gold_rate double precision, p_dataset text) RETURNS TABLE(task_id uuid, lease_expires_at timestamp with time zone, gold_rate double precision)
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
