-- squawk-ignore-file prefer-robust-stmts -- a revision runs in one transaction (migrations/env.py): it applies whole or not at all, and IF [NOT] EXISTS would hide a schema that drifted
-- squawk-ignore-file require-lock-timeout -- migrations/env.py sets lock_timeout before every revision
-- squawk-ignore-file require-statement-timeout -- a revision must run to the end; the lock_timeout env.py sets is what keeps it from stalling other sessions
-- migrate:up
-- Why: every new task moved one of the dashboard's counter rows (task_counts: 16 shards per
-- combination of status, type, dataset and state) by one, in the transaction that made it. A
-- step that makes many tasks in one transaction (an items import is all or nothing) updated
-- the same few rows again and again, and every update of a row walks the versions the
-- transaction already left of it: an items import of 10,000 items took 22 s, of 40,000 items
-- 167 s (4 times the items, 7 times the time), most of it in INSERT INTO tasks.
-- Now a transaction that says so (whstudio.counts_later = on, set by the app's bulk steps with
-- the temporary table whs_uncounted_tasks, db/bulk.py counts_later) notes each consensus row it
-- creates instead of counting it; the moves of those rows are not counted either (they were
-- never in a count), and the step counts them all in one statement as it ends, in their final
-- state. Any other transaction counts as before.
CREATE OR REPLACE FUNCTION response_consensus_count() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('whstudio.counts_later', true) = 'on' THEN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO pg_temp.whs_uncounted_tasks (task_id) VALUES (NEW.task_id);
            RETURN NULL;
        END IF;
        IF EXISTS (SELECT FROM pg_temp.whs_uncounted_tasks u WHERE u.task_id = OLD.task_id) THEN
            RETURN NULL;
        END IF;
    END IF;
    IF TG_OP = 'INSERT' THEN
        PERFORM task_counts_move(NEW, 1);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM task_counts_move(OLD, -1);
    -- Two counter rows change: take them in one fixed order, so that two tasks moving in
    -- opposite directions cannot deadlock on each other.
    ELSIF concat_ws('|', OLD.task_status, OLD.question_type, OLD.source_dataset,
                    OLD.consensus_reached, OLD.remaining > 0, OLD.has_gold)
        < concat_ws('|', NEW.task_status, NEW.question_type, NEW.source_dataset,
                    NEW.consensus_reached, NEW.remaining > 0, NEW.has_gold) THEN
        PERFORM task_counts_move(OLD, -1);
        PERFORM task_counts_move(NEW, 1);
    ELSE
        PERFORM task_counts_move(NEW, 1);
        PERFORM task_counts_move(OLD, -1);
    END IF;
    RETURN NULL;
END
$$;

-- migrate:down
CREATE OR REPLACE FUNCTION response_consensus_count() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM task_counts_move(NEW, 1);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM task_counts_move(OLD, -1);
    -- Two counter rows change: take them in one fixed order, so that two tasks moving in
    -- opposite directions cannot deadlock on each other.
    ELSIF concat_ws('|', OLD.task_status, OLD.question_type, OLD.source_dataset,
                    OLD.consensus_reached, OLD.remaining > 0, OLD.has_gold)
        < concat_ws('|', NEW.task_status, NEW.question_type, NEW.source_dataset,
                    NEW.consensus_reached, NEW.remaining > 0, NEW.has_gold) THEN
        PERFORM task_counts_move(OLD, -1);
        PERFORM task_counts_move(NEW, 1);
    ELSE
        PERFORM task_counts_move(NEW, 1);
        PERFORM task_counts_move(OLD, -1);
    END IF;
    RETURN NULL;
END
$$;
