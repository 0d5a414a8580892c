-- The migration's own objects, in a schema of their own (whs_legacy) so that the public schema
-- ends exactly like a fresh install's. Run as one script by `whstudio legacy expand`; every
-- statement is rerunnable. Functions are versioned (_v1) so that a later release can add a _v2
-- beside them while triggers still call _v1.

-- Only whs_legacy objects are created here; no legacy table is locked. The script runs in one
-- transaction, so these bounds hold for it alone.
SET LOCAL lock_timeout = '1s';
SET LOCAL statement_timeout = '60s';

CREATE SCHEMA IF NOT EXISTS whs_legacy;

-- Where the migration stands: one row.
CREATE TABLE IF NOT EXISTS whs_legacy.state (
    id         boolean PRIMARY KEY DEFAULT true CHECK (id),
    step       text NOT NULL CHECK (step IN ('expanded', 'backfilled', 'verified', 'contracted',
                                              'rolled_back')),
    read_path  text NOT NULL DEFAULT 'old' CHECK (read_path IN ('old', 'new')),
    fresh_head text,
    updated_at timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- Every step run, with what it reported.
CREATE TABLE IF NOT EXISTS whs_legacy.history (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    step        text NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    ok          boolean NOT NULL,
    detail      jsonb NOT NULL DEFAULT '{}'::jsonb
);

-- The backfill's position per phase: it resumes after last_id.
CREATE TABLE IF NOT EXISTS whs_legacy.progress (
    phase       text PRIMARY KEY CHECK (phase IN ('tasks', 'submissions')),
    last_id     uuid,
    migrated    bigint NOT NULL DEFAULT 0,
    quarantined bigint NOT NULL DEFAULT 0,
    total       bigint NOT NULL DEFAULT 0,
    started_at  timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at  timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    finished_at timestamptz
);

-- Rows that could not be migrated: kept in place, reported here with their raw value. A row
-- leaves the quarantine when a later write (through the old application) makes it parseable.
CREATE TABLE IF NOT EXISTS whs_legacy.quarantine (
    table_name text NOT NULL,
    row_id     uuid NOT NULL,
    reason     text NOT NULL,
    raw        text,
    seen_at    timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (table_name, row_id)
);

-- The legacy schema before the migration touched it: its objects (for rollback), its catalog
-- description (to prove rollback complete) and each legacy table's columns.
CREATE TABLE IF NOT EXISTS whs_legacy.baseline_objects (
    kind  text NOT NULL,
    name  text NOT NULL,
    PRIMARY KEY (kind, name)
);
CREATE TABLE IF NOT EXISTS whs_legacy.baseline_catalog (
    line text PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS whs_legacy.legacy_columns (
    table_name  text NOT NULL,
    column_name text NOT NULL,
    position    bigint NOT NULL,
    PRIMARY KEY (table_name, column_name)
);
-- The column's place in its table's primary key (1, 2, ...), NULL outside it. A table without a
-- primary key is checked by whole rows.
ALTER TABLE whs_legacy.legacy_columns ADD COLUMN IF NOT EXISTS key_position bigint;

-- One checksum per legacy row over its legacy columns, taken before the migration. row_id is the
-- row's key as text, whatever the key's type (see whs_legacy.row_key_v1).
CREATE TABLE IF NOT EXISTS whs_legacy.checksums (
    table_name text NOT NULL,
    row_id     text NOT NULL,
    digest     text NOT NULL,
    PRIMARY KEY (table_name, row_id)
);

-- Tasks whose consensus row the backfill still has to make or recompute. Kept apart from the
-- batches so that a batch holds no lock on the shared dashboard counters (task_counts): the
-- queue is drained in small transactions of their own, and survives a kill.
CREATE TABLE IF NOT EXISTS whs_legacy.consensus_queue (
    task_id uuid PRIMARY KEY,
    -- false: only the row is missing (a task whose answers are not migrated yet: the answers'
    -- phase queues it again to recompute)
    rebuild boolean NOT NULL DEFAULT true
);

-- VALIDATE CONSTRAINT statements for what expand added NOT VALID, run after the backfill.
CREATE TABLE IF NOT EXISTS whs_legacy.validations (
    name         text PRIMARY KEY,
    statement    text NOT NULL,
    validated_at timestamptz
);

-- Counts writes that arrive through the old path (legacy columns only): contract waits until it
-- stands still. A sequence, so that counting takes no row lock.
CREATE SEQUENCE IF NOT EXISTS whs_legacy.old_path_writes;

-- Rows written since the baseline by anyone but the migration (which runs with
-- session_replication_role = replica, so this log's triggers do not see it).
CREATE TABLE IF NOT EXISTS whs_legacy.changes (
    table_name text NOT NULL,
    row_id     text NOT NULL,
    op         text NOT NULL,
    at         timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (table_name, row_id)
);

-- Migrations begun by a release that keyed rows by uuid: the same keys, as text.
DO $$
BEGIN
    IF (SELECT format_type(atttypid, atttypmod) FROM pg_attribute
         WHERE attrelid = 'whs_legacy.checksums'::regclass AND attname = 'row_id') = 'uuid' THEN
        ALTER TABLE whs_legacy.checksums ALTER COLUMN row_id TYPE text;
    END IF;
    IF (SELECT format_type(atttypid, atttypmod) FROM pg_attribute
         WHERE attrelid = 'whs_legacy.changes'::regclass AND attname = 'row_id') = 'uuid' THEN
        ALTER TABLE whs_legacy.changes ALTER COLUMN row_id TYPE text;
    END IF;
END
$$;

-- A legacy row's key as text, the same in the change log and in the checksums: one key column's
-- JSON text (a uuid, a name, a number as written), several columns' JSON array, or for a table
-- without a primary key 'row:' and the md5 of the whole row (the checksums add ':n' to tell
-- identical rows apart).
CREATE OR REPLACE FUNCTION whs_legacy.row_key_v1(r jsonb, row_text text, key_columns text[])
RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    -- (a trigger's TG_ARGV counts from 0, and is NULL without arguments)
    SELECT CASE
        WHEN coalesce(cardinality(key_columns), 0) = 0 THEN 'row:' || md5(row_text)
        WHEN cardinality(key_columns) = 1 THEN r ->> key_columns[array_lower(key_columns, 1)]
        ELSE (SELECT jsonb_agg(r -> k ORDER BY o) FROM unnest(key_columns) WITH ORDINALITY AS u(k, o))::text
    END
$$;

-- The change log's trigger; its arguments are the table's key columns (none: whole rows). An
-- update logs the row's key before and after, which differ when the key itself changed.
CREATE OR REPLACE FUNCTION whs_legacy.log_change_v2() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    before text;
    after text;
BEGIN
    -- Only what the key needs is computed: the row as JSON for a keyed table, its text for one
    -- without a key (this runs on every write of the old application during the migration).
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        before := whs_legacy.row_key_v1(CASE WHEN TG_NARGS > 0 THEN to_jsonb(OLD) END,
                                        CASE WHEN TG_NARGS = 0 THEN OLD::text END, TG_ARGV);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        after := whs_legacy.row_key_v1(CASE WHEN TG_NARGS > 0 THEN to_jsonb(NEW) END,
                                       CASE WHEN TG_NARGS = 0 THEN NEW::text END, TG_ARGV);
    END IF;
    -- one row per key: an update that kept its key logs it once, one that moved it both
    INSERT INTO whs_legacy.changes (table_name, row_id, op)
    SELECT DISTINCT TG_TABLE_NAME, k, TG_OP FROM unnest(ARRAY[before, after]) AS k
     WHERE k IS NOT NULL
    ON CONFLICT (table_name, row_id) DO NOTHING;
    RETURN NULL;
END
$$;

-- The first release's change log (uuid ids only), kept for the triggers a running migration of
-- that release still has until its next expand replaces them.
CREATE OR REPLACE FUNCTION whs_legacy.log_change_v1() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO whs_legacy.changes (table_name, row_id, op)
    VALUES (TG_TABLE_NAME, CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END, TG_OP)
    ON CONFLICT (table_name, row_id) DO NOTHING;
    RETURN NULL;
END
$$;

-- tasks.instructions (TEXT holding JSON, or not) as a question: (type, content, gold) or the
-- reason it cannot be one. A/B documents have their keys normalised (optionA, option_a, OPTIONA
-- are one key), gold upper-cased; other task types keep their instructions verbatim as the
-- prompt of a text_generation question, so nothing of them is lost or reinterpreted.
CREATE OR REPLACE FUNCTION whs_legacy.parse_instructions_v1(
    p_type text, p_text text, OUT qtype text, OUT content jsonb, OUT gold jsonb, OUT reason text)
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    doc json;
    k text;
    v json;
    norm text;
    seen text[] := '{}';
    seen_values text[] := '{}';
    fields jsonb := '{}'::jsonb;
    extra jsonb := '{}'::jsonb;
    g text;
BEGIN
    IF p_text IS NULL OR btrim(p_text) = '' THEN
        reason := 'empty instructions';
        RETURN;
    END IF;
    IF p_type IS DISTINCT FROM 'pairwise_ab' THEN
        qtype := 'text_generation';
        content := jsonb_build_object('prompt', p_text);
        RETURN;
    END IF;
    BEGIN
        doc := p_text::json;
    EXCEPTION WHEN invalid_text_representation THEN
        reason := 'not JSON';
        RETURN;
    END;
    IF json_typeof(doc) <> 'object' THEN
        reason := 'JSON ' || json_typeof(doc) || ', not an object';
        RETURN;
    END IF;
    BEGIN
        FOR k, v IN SELECT e.key, e.value FROM json_each(doc) AS e LOOP
            norm := lower(replace(k, '_', ''));
            IF norm IN ('prompt', 'optiona', 'optionb', 'gold', 'type') THEN
                IF norm = ANY (seen) THEN
                    -- JSONB would keep the last of duplicate keys silently; equal values are
                    -- harmless, different ones are ambiguous.
                    IF seen_values[array_position(seen, norm)] <> v::jsonb::text THEN
                        reason := 'duplicate key ' || k || ' with different values';
                        RETURN;
                    END IF;
                    CONTINUE;
                END IF;
                seen := seen || norm;
                seen_values := seen_values || v::jsonb::text;
                fields := fields || jsonb_build_object(norm, v::jsonb);
            ELSIF extra ? k THEN
                IF (extra -> k) <> v::jsonb THEN
                    reason := 'duplicate key ' || k || ' with different values';
                    RETURN;
                END IF;
            ELSE
                extra := extra || jsonb_build_object(k, v::jsonb);
            END IF;
        END LOOP;
    EXCEPTION WHEN untranslatable_character OR invalid_parameter_value THEN
        reason := 'contains \u0000, which PostgreSQL cannot store in JSONB';
        RETURN;
    END;
    IF fields ? 'type' AND fields -> 'type' <> '"pairwise_ab"'::jsonb THEN
        reason := 'type ' || (fields ->> 'type') || ' in a pairwise_ab task';
        RETURN;
    END IF;
    IF jsonb_typeof(fields -> 'prompt') IS DISTINCT FROM 'string'
       OR btrim(fields ->> 'prompt') = '' THEN
        reason := 'no prompt';
        RETURN;
    END IF;
    IF jsonb_typeof(fields -> 'optiona') IS DISTINCT FROM 'string'
       OR jsonb_typeof(fields -> 'optionb') IS DISTINCT FROM 'string' THEN
        reason := 'optionA or optionB missing or not a string';
        RETURN;
    END IF;
    IF extra ? 'gold_standard' THEN
        reason := 'a gold_standard key beside gold';
        RETURN;
    END IF;
    IF jsonb_typeof(fields -> 'gold') = 'string' THEN
        g := upper(fields ->> 'gold');
        IF g NOT IN ('A', 'B', 'TIE') THEN
            reason := 'gold ' || (fields ->> 'gold') || ' is not A, B or null';
            RETURN;
        END IF;
        gold := to_jsonb(CASE g WHEN 'TIE' THEN 'tie' ELSE g END);
    ELSIF fields ? 'gold' AND jsonb_typeof(fields -> 'gold') <> 'null' THEN
        reason := 'gold is not a string';
        RETURN;
    END IF;
    qtype := 'pairwise_ab';
    content := extra || jsonb_build_object('prompt', fields -> 'prompt',
                                           'optionA', fields -> 'optiona',
                                           'optionB', fields -> 'optionb');
END
$$;

-- The question a task's instructions stand for, stored once per distinct content; or the reason
-- there is none. A gold the question lacks is added; a gold that contradicts it is a conflict.
CREATE OR REPLACE FUNCTION whs_legacy.question_for_v1(
    p_task uuid, p_type text, p_text text, p_creator uuid, OUT question_id uuid, OUT reason text)
LANGUAGE plpgsql AS $$
DECLARE
    p record;
    existing jsonb;
BEGIN
    p := whs_legacy.parse_instructions_v1(p_type, p_text);
    IF p.reason IS NOT NULL THEN
        reason := p.reason;
        RETURN;
    END IF;
    BEGIN
        INSERT INTO public.questions (question_type, content, gold_standard, source_dataset,
                                      metadata, created_by)
        VALUES (p.qtype, p.content, p.gold, 'legacy', '{"migrated_from": "tasks.instructions"}',
                p_creator)
        ON CONFLICT (content_hash) DO NOTHING
        RETURNING id INTO question_id;
    EXCEPTION WHEN check_violation THEN
        reason := 'the content is not a valid ' || p.qtype || ' question';
        RETURN;
    END;
    IF question_id IS NOT NULL THEN
        RETURN;
    END IF;
    SELECT q.id, q.gold_standard INTO question_id, existing
      FROM public.questions q
     WHERE q.content_hash = public.question_content_hash(p.qtype, p.content)
     FOR UPDATE;
    IF p.gold IS NULL OR existing = p.gold THEN
        RETURN;
    ELSIF existing IS NULL OR NOT EXISTS (
            SELECT FROM public.tasks t WHERE t.question_id = question_for_v1.question_id
                                         AND t.id <> p_task) THEN
        -- no other task holds another gold for it
        UPDATE public.questions SET gold_standard = p.gold WHERE id = question_id;
    ELSE
        question_id := NULL;
        reason := 'gold ' || p.gold::text || ' conflicts with gold ' || existing::text
                  || ' of the same question in another task';
    END IF;
END
$$;

-- A question as the legacy instructions text (the reverse direction).
CREATE OR REPLACE FUNCTION whs_legacy.instructions_of_v1(p_question uuid) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (
        SELECT CASE
            WHEN q.question_type = 'text_generation' AND q.content - 'prompt' = '{}'::jsonb
                THEN q.content ->> 'prompt'
            ELSE (q.content || jsonb_build_object('type', q.question_type,
                                                  'gold', q.gold_standard))::text
        END
          FROM public.questions q WHERE q.id = p_question);
END
$$;

-- The answer a legacy submission_data document stands for, as the old clients wrote it (see
-- docs/legacy-migration.md, "How legacy answers are read"). The old submit route checked only
-- chosen_response, so every other field is read leniently: a vote whose choice is clear is a
-- vote. Only a choice that cannot be understood sets `reason` (quarantine). Every field whose
-- stored value is not the document's own value (a fraction or a word read as 1–5, a number
-- rounded, a string read as a number, a value dropped) adds a line to `notes`.
CREATE OR REPLACE FUNCTION whs_legacy.parse_submission_v2(
    p_qtype text, p_allow_tie boolean, p_data jsonb,
    OUT chosen text, OUT confidence smallint, OUT explanation text, OUT time_spent integer,
    OUT payload jsonb, OUT reason text, OUT notes text[])
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    c text;
    v jsonb;
    x numeric;
    word text;
BEGIN
    notes := '{}';
    IF jsonb_typeof(p_data) IS DISTINCT FROM 'object' THEN
        reason := 'submission_data is not an object';
        RETURN;
    END IF;
    IF p_qtype IS DISTINCT FROM 'pairwise_ab' THEN
        payload := jsonb_build_object('text', p_data::text, 'legacy', p_data);
        RETURN;
    END IF;
    c := upper(btrim(p_data ->> 'chosen_response'));
    IF jsonb_typeof(p_data -> 'chosen_response') IS DISTINCT FROM 'string'
       OR c NOT IN ('A', 'B', 'TIE') THEN
        reason := 'chosen_response ' || coalesce(p_data ->> 'chosen_response', 'missing')
                  || ' is not A, B or tie';
        RETURN;
    END IF;
    IF c = 'TIE' AND NOT coalesce(p_allow_tie, false) THEN
        reason := 'a tie in a task that allows none';
        RETURN;
    END IF;
    chosen := CASE c WHEN 'TIE' THEN 'tie' ELSE c END;

    -- confidence (or confidence_score): 1–5; a fraction of 1; a digit string; a word
    v := coalesce(p_data -> 'confidence', p_data -> 'confidence_score');
    IF v IS NOT NULL AND jsonb_typeof(v) <> 'null' THEN
        x := NULL;
        IF jsonb_typeof(v) = 'number' THEN
            x := v::numeric;
        ELSIF jsonb_typeof(v) = 'string' THEN
            word := btrim(v #>> '{}');
            IF word ~ '^\+?([0-9]+(\.[0-9]*)?|\.[0-9]+)$' THEN
                x := word::numeric;
            ELSE
                word := btrim(regexp_replace(lower(word), '[\s_-]+', ' ', 'g'));
                x := CASE word WHEN 'very low' THEN 1 WHEN 'low' THEN 2 WHEN 'medium' THEN 3
                               WHEN 'moderate' THEN 3 WHEN 'neutral' THEN 3 WHEN 'high' THEN 4
                               WHEN 'very high' THEN 5 END;
            END IF;
        END IF;
        IF x IS NOT NULL AND x >= 0 AND x < 1 THEN
            confidence := 1 + round(x * 4);
        ELSIF x IS NOT NULL AND x >= 1 AND x <= 5 THEN
            confidence := round(x);
        END IF;
        IF confidence IS NULL THEN
            notes := notes || ('confidence ' || v::text
                               || ' dropped: not 1 to 5, a fraction of 1 or a word');
        ELSIF jsonb_typeof(v) <> 'number' OR x <> confidence THEN
            notes := notes || ('confidence ' || v::text || ' read as ' || confidence);
        END IF;
    END IF;

    -- time_spent_seconds: whole seconds within a day; a number rounded; a digit string
    v := p_data -> 'time_spent_seconds';
    IF v IS NOT NULL AND jsonb_typeof(v) <> 'null' THEN
        x := NULL;
        IF jsonb_typeof(v) = 'number' THEN
            x := v::numeric;
        ELSIF jsonb_typeof(v) = 'string' AND btrim(v #>> '{}') ~ '^\+?([0-9]+(\.[0-9]*)?|\.[0-9]+)$' THEN
            x := btrim(v #>> '{}')::numeric;
        END IF;
        IF x IS NOT NULL AND x >= 0 AND round(x) <= 86400 THEN
            time_spent := round(x);
        END IF;
        IF time_spent IS NULL THEN
            notes := notes || ('time_spent_seconds ' || v::text
                               || ' dropped: not seconds from 0 to 86400');
        ELSIF jsonb_typeof(v) <> 'number' OR x <> time_spent THEN
            notes := notes || ('time_spent_seconds ' || v::text || ' read as ' || time_spent);
        END IF;
    END IF;

    -- additional_comments: text, at most 5000 characters kept
    v := p_data -> 'additional_comments';
    IF jsonb_typeof(v) = 'string' THEN
        explanation := v #>> '{}';
        IF length(explanation) > 5000 THEN
            explanation := left(explanation, 5000);
            notes := notes || ('additional_comments cut from ' || length(v #>> '{}')
                               || ' to 5000 characters');
        END IF;
    ELSIF v IS NOT NULL AND jsonb_typeof(v) <> 'null' THEN
        notes := notes || ('additional_comments ' || left(v::text, 200) || ' dropped: not text');
    END IF;
END
$$;

-- parse_submission_v2's reading plus the criteria the old clients sent with a vote
-- (`rating_reasons`, or `reasons`): each as a criterion name (lower case, each run of spaces
-- made one '_'), repeats and empty ones left out, at most 20; a string is a
-- comma-separated list; an entry that is not text, or not a name after that, is dropped. Every
-- change is noted like the other fields'.
CREATE OR REPLACE FUNCTION whs_legacy.parse_submission_v3(
    p_qtype text, p_allow_tie boolean, p_data jsonb,
    OUT chosen text, OUT confidence smallint, OUT explanation text, OUT time_spent integer,
    OUT payload jsonb, OUT reason text, OUT notes text[], OUT reasons text[])
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v jsonb;
    e jsonb;
    items jsonb;
    raw text;
    name text;
BEGIN
    SELECT p.chosen, p.confidence, p.explanation, p.time_spent, p.payload, p.reason, p.notes
      INTO chosen, confidence, explanation, time_spent, payload, reason, notes
      FROM whs_legacy.parse_submission_v2(p_qtype, p_allow_tie, p_data) AS p;
    IF reason IS NOT NULL OR chosen IS NULL THEN
        RETURN;
    END IF;
    v := coalesce(p_data -> 'rating_reasons', p_data -> 'reasons');
    IF v IS NULL OR jsonb_typeof(v) = 'null' THEN
        RETURN;
    END IF;
    IF jsonb_typeof(v) = 'array' THEN
        items := v;
    ELSIF jsonb_typeof(v) = 'string' THEN
        SELECT coalesce(jsonb_agg(to_jsonb(x)), '[]') INTO items
          FROM regexp_split_to_table(v #>> '{}', ',') AS x;
        IF jsonb_array_length(items) > 1 THEN
            notes := notes || ('rating_reasons ' || left(v::text, 200) || ' read as a list');
        END IF;
    ELSE
        notes := notes || ('rating_reasons ' || left(v::text, 200) || ' dropped: not a list');
        RETURN;
    END IF;
    reasons := '{}';
    FOR e IN SELECT x FROM jsonb_array_elements(items) AS x LOOP
        IF jsonb_typeof(e) <> 'string' THEN
            notes := notes || ('rating_reasons entry ' || left(e::text, 200) || ' dropped: not text');
            CONTINUE;
        END IF;
        raw := e #>> '{}';
        name := regexp_replace(lower(btrim(raw)), '\s+', '_', 'g');
        IF name = '' THEN
            CONTINUE;
        ELSIF name !~ '^[a-z0-9][a-z0-9_-]{0,63}$' THEN
            notes := notes || ('rating_reasons entry ' || left(e::text, 200)
                               || ' dropped: not a criterion name');
            CONTINUE;
        ELSIF name = ANY (reasons) THEN
            notes := notes || ('rating_reasons entry ' || left(e::text, 200) || ' repeated');
            CONTINUE;
        ELSIF cardinality(reasons) = 20 THEN
            notes := notes || ('rating_reasons entry ' || left(e::text, 200)
                               || ' dropped: more than 20');
            CONTINUE;
        END IF;
        IF name <> raw THEN
            notes := notes || ('rating_reasons entry ' || e::text || ' read as ' || name);
        END IF;
        reasons := reasons || name;
    END LOOP;
    IF cardinality(reasons) = 0 THEN
        reasons := NULL;
    END IF;
END
$$;

-- Answers migrated with a field read differently from the document or dropped (the document
-- itself stays as it was in submission_data). One row per answer, its notes the parser's.
CREATE TABLE IF NOT EXISTS whs_legacy.normalised (
    table_name text NOT NULL,
    row_id     uuid NOT NULL,
    notes      text[] NOT NULL,
    seen_at    timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (table_name, row_id)
);

CREATE OR REPLACE FUNCTION whs_legacy.note_v1(p_table text, p_id uuid, p_notes text[])
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(cardinality(p_notes), 0) = 0 THEN
        DELETE FROM whs_legacy.normalised WHERE table_name = p_table AND row_id = p_id;
    ELSE
        INSERT INTO whs_legacy.normalised AS z (table_name, row_id, notes)
        VALUES (p_table, p_id, p_notes)
        ON CONFLICT (table_name, row_id) DO UPDATE
           SET notes = excluded.notes, seen_at = CURRENT_TIMESTAMP
         WHERE z.notes IS DISTINCT FROM excluded.notes;
    END IF;
END
$$;

-- The structured answer as a legacy submission_data document (the reverse direction).
CREATE OR REPLACE FUNCTION whs_legacy.submission_data_of_v1(
    p_chosen text, p_confidence smallint, p_explanation text, p_time integer, p_payload jsonb)
RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN p_chosen IS NOT NULL THEN jsonb_strip_nulls(jsonb_build_object(
            'chosen_response', p_chosen, 'confidence', p_confidence,
            'time_spent_seconds', p_time, 'additional_comments', p_explanation))
        WHEN p_payload ? 'legacy' THEN p_payload -> 'legacy'
        ELSE p_payload
    END
$$;

-- The same, with the criteria ticked written back as `rating_reasons`.
CREATE OR REPLACE FUNCTION whs_legacy.submission_data_of_v2(
    p_chosen text, p_confidence smallint, p_explanation text, p_time integer, p_payload jsonb,
    p_reasons text[])
RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT whs_legacy.submission_data_of_v1(p_chosen, p_confidence, p_explanation, p_time,
                                            p_payload)
           || CASE WHEN p_chosen IS NOT NULL AND p_reasons IS NOT NULL
                   THEN jsonb_build_object('rating_reasons', to_jsonb(p_reasons))
                   ELSE '{}' END
$$;

CREATE OR REPLACE FUNCTION whs_legacy.quarantine_v1(
    p_table text, p_id uuid, p_reason text, p_raw text) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO whs_legacy.quarantine AS z (table_name, row_id, reason, raw)
    VALUES (p_table, p_id, p_reason, p_raw)
    ON CONFLICT (table_name, row_id) DO UPDATE
       SET reason = excluded.reason, raw = excluded.raw, seen_at = CURRENT_TIMESTAMP
     WHERE (z.reason, z.raw) IS DISTINCT FROM (excluded.reason, excluded.raw)
$$;

CREATE OR REPLACE FUNCTION whs_legacy.release_v1(p_table text, p_id uuid) RETURNS void
LANGUAGE sql AS $$
    DELETE FROM whs_legacy.quarantine WHERE table_name = p_table AND row_id = p_id
$$;

-- A migrated task's consensus row is made by the fresh install's own trigger function
-- (tasks_create_consensus, whatever the newest revision made of it): rows copied into
-- whs_legacy.consensus_seed, a table shaped like tasks (recreated by every expand), fire it.
CREATE OR REPLACE FUNCTION whs_legacy.seed_defaults_v1() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- legacy columns that may be NULL where the new schema needs a value
    NEW.priority := coalesce(NEW.priority, 3);
    RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION whs_legacy.create_consensus_v1(p_tasks uuid[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    -- The tasks by primary key first (OFFSET 0 keeps the filter out of the scan): statistics
    -- taken before the backfill say question_id is all NULL, and the planner would otherwise
    -- scan the question_id index for IS NOT NULL, i.e. every task migrated so far.
    INSERT INTO whs_legacy.consensus_seed
    SELECT t.* FROM (SELECT * FROM public.tasks WHERE id = ANY (p_tasks) OFFSET 0) AS t
     WHERE t.question_id IS NOT NULL
       AND NOT EXISTS (SELECT FROM public.response_consensus c WHERE c.task_id = t.id);
    DELETE FROM whs_legacy.consensus_seed WHERE id = ANY (p_tasks);
END
$$;

-- The old application's answers needed per task become the consensus threshold.
CREATE OR REPLACE FUNCTION whs_legacy.threshold_of_v1(p_max integer) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_max BETWEEN 1 AND 10000 THEN p_max ELSE 3 END
$$;

-- A write through the old path can move a task's dashboard counter rows (task_counts) more
-- than once in its transaction: an edit of instructions moves them for the new question, then
-- again for the recomputed consensus. Two such writers in the same counter shard could take the
-- rows in opposite orders and deadlock (measured at 10^6 rows: two old-application writes
-- refused). So the old path first locks every counter row of the task's shard in one order.
-- (task_counts_move puts a task's rows in shard abs(hashtext(task_id::text)) % 16.)
CREATE OR REPLACE FUNCTION whs_legacy.lock_counters_v1(p_tasks uuid[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM public.task_counts k
      WHERE k.shard = ANY (ARRAY(SELECT abs(hashtext(x::text)) % 16 FROM unnest(p_tasks) AS x))
      ORDER BY k.shard, k.task_status, k.question_type, k.source_dataset, k.consensus_reached,
               k.needs_more, k.has_gold
        FOR UPDATE;
END
$$;

-- An old-path write changes consensus rows (through the fresh install's functions), which
-- would notify the app's listeners inside the old application's transaction. A transaction
-- that notified holds a database-wide lock from just before its commit until its commit is
-- flushed, so every such write would commit one at a time behind the others' flushes: under
-- the backfill's WAL at 10^6 rows, old-application writes queued for seconds. So these
-- transactions send no events ('silent': consensus_store neither notifies nor keeps them, so a
-- bulk update of many tasks costs nothing more); the app's listener finds the changed rows by
-- their version within a second (ConsensusBroker's watch). A transaction that collects its
-- events ('on', the API's submit_answer_v2) keeps collecting them.
CREATE OR REPLACE FUNCTION whs_legacy.defer_events_v1() RETURNS void
LANGUAGE sql AS $$
    SELECT set_config('whstudio.defer_events', 'silent', true)
     WHERE current_setting('whstudio.defer_events', true) IS DISTINCT FROM 'on'
$$;

-- Dual writes, tasks, before the row is stored: old-path writes (instructions) set the
-- question; new-path writes (question_id) set the legacy columns.
CREATE OR REPLACE FUNCTION whs_legacy.tasks_dual_write_v1() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        PERFORM whs_legacy.lock_counters_v1(ARRAY[NEW.id]);
    END IF;
    IF TG_OP = 'INSERT' AND NEW.instructions IS NULL AND NEW.question_id IS NOT NULL THEN
        NEW.instructions := whs_legacy.instructions_of_v1(NEW.question_id);
        NEW.task_type := (SELECT question_type FROM public.questions WHERE id = NEW.question_id);
        NEW.max_submissions := NEW.consensus_threshold;
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF NEW.max_submissions IS DISTINCT FROM OLD.max_submissions THEN
            NEW.consensus_threshold := whs_legacy.threshold_of_v1(NEW.max_submissions);
        ELSIF NEW.consensus_threshold IS DISTINCT FROM OLD.consensus_threshold THEN
            NEW.max_submissions := NEW.consensus_threshold;
        END IF;
        IF (NEW.instructions, NEW.task_type) IS NOT DISTINCT FROM (OLD.instructions, OLD.task_type) THEN
            IF NEW.question_id IS DISTINCT FROM OLD.question_id AND NEW.question_id IS NOT NULL THEN
                NEW.instructions := whs_legacy.instructions_of_v1(NEW.question_id);
            END IF;
            RETURN NEW;
        END IF;
    ELSE
        NEW.consensus_threshold := whs_legacy.threshold_of_v1(NEW.max_submissions);
    END IF;
    PERFORM nextval('whs_legacy.old_path_writes');
    PERFORM whs_legacy.defer_events_v1();
    r := whs_legacy.question_for_v1(NEW.id, NEW.task_type, NEW.instructions, NEW.creator_id);
    NEW.question_id := r.question_id;
    IF r.reason IS NULL THEN
        PERFORM whs_legacy.release_v1('tasks', NEW.id);
    ELSE
        PERFORM whs_legacy.quarantine_v1('tasks', NEW.id, r.reason, NEW.instructions);
    END IF;
    RETURN NEW;
END
$$;

-- Migrate the answers of one task (after the task got its question), as the backfill would.
CREATE OR REPLACE FUNCTION whs_legacy.migrate_submissions_of_v1(p_task uuid) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    s record;
    p record;
    t record;
    n integer := 0;
    role text := current_setting('session_replication_role');
BEGIN
    SELECT tk.question_id, tk.allow_tie, q.question_type INTO t
      FROM public.tasks tk LEFT JOIN public.questions q ON q.id = tk.question_id
     WHERE tk.id = p_task;
    FOR s IN SELECT id, submission_data FROM public.submissions
              WHERE task_id = p_task AND chosen_response IS NULL AND payload IS NULL LOOP
        IF t.question_id IS NULL THEN
            PERFORM whs_legacy.quarantine_v1('submissions', s.id, 'its task is in quarantine',
                                             s.submission_data::text);
            CONTINUE;
        END IF;
        p := whs_legacy.parse_submission_v3(t.question_type, t.allow_tie, s.submission_data);
        IF p.reason IS NOT NULL THEN
            PERFORM whs_legacy.quarantine_v1('submissions', s.id, p.reason, s.submission_data::text);
            CONTINUE;
        END IF;
        -- the migration's own write: no legacy trigger (updated_at), no change-log entry
        PERFORM set_config('session_replication_role', 'replica', true);
        UPDATE public.submissions
           SET question_id = t.question_id, chosen_response = p.chosen, confidence = p.confidence,
               explanation = p.explanation, time_spent_seconds = p.time_spent, payload = p.payload,
               reasons = p.reasons
         WHERE id = s.id AND submission_data = s.submission_data;
        PERFORM set_config('session_replication_role', role, true);
        PERFORM whs_legacy.release_v1('submissions', s.id);
        PERFORM whs_legacy.note_v1('submissions', s.id, p.notes);
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;

-- Dual writes, tasks, after the row is stored: the consensus row of a task that just got its
-- question (and its answers, which waited for it). Changes to a task that already had one go to
-- the fresh install's own tasks_sync_consensus(), through a trigger of ours that only fires then.
CREATE OR REPLACE FUNCTION whs_legacy.tasks_dual_write_after_v1() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.question_id IS NULL THEN
        IF TG_OP = 'UPDATE' AND OLD.question_id IS NOT NULL THEN
            DELETE FROM public.response_consensus WHERE task_id = NEW.id;
        END IF;
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        PERFORM whs_legacy.create_consensus_v1(ARRAY[NEW.id]);
    ELSIF OLD.question_id IS NULL THEN
        PERFORM whs_legacy.migrate_submissions_of_v1(NEW.id);
        PERFORM whs_legacy.create_consensus_v1(ARRAY[NEW.id]);
        PERFORM public.consensus_rebuild_v1(NEW.id);
    END IF;
    RETURN NULL;
END
$$;

-- Dual writes, submissions, before the row is stored.
CREATE OR REPLACE FUNCTION whs_legacy.submissions_dual_write_v1() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    t record;
    p record;
BEGIN
    IF TG_OP = 'INSERT' AND NEW.submission_data IS NULL THEN
        -- written by the new path
        NEW.submission_data := whs_legacy.submission_data_of_v2(
            NEW.chosen_response, NEW.confidence, NEW.explanation, NEW.time_spent_seconds,
            NEW.payload, NEW.reasons);
        IF NEW.submitter_nullifier IS NULL THEN
            NEW.submitter_nullifier := coalesce(
                (SELECT nullifier_hash FROM public.users WHERE id = NEW.user_id),
                'whs:' || NEW.user_id::text);
        END IF;
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE'
       AND (NEW.submission_data, NEW.task_id) IS NOT DISTINCT FROM (OLD.submission_data, OLD.task_id) THEN
        IF (NEW.chosen_response, NEW.confidence, NEW.explanation, NEW.time_spent_seconds,
            NEW.payload, NEW.reasons)
           IS DISTINCT FROM
           (OLD.chosen_response, OLD.confidence, OLD.explanation, OLD.time_spent_seconds,
            OLD.payload, OLD.reasons) THEN
            NEW.submission_data := whs_legacy.submission_data_of_v2(
                NEW.chosen_response, NEW.confidence, NEW.explanation, NEW.time_spent_seconds,
                NEW.payload, NEW.reasons);
        END IF;
        RETURN NEW;
    END IF;
    PERFORM nextval('whs_legacy.old_path_writes');
    PERFORM whs_legacy.defer_events_v1();
    PERFORM whs_legacy.lock_counters_v1(
        ARRAY[NEW.task_id] || CASE WHEN TG_OP = 'UPDATE' THEN ARRAY[OLD.task_id] ELSE '{}' END);
    SELECT tk.question_id, tk.allow_tie, q.question_type INTO t
      FROM public.tasks tk LEFT JOIN public.questions q ON q.id = tk.question_id
     WHERE tk.id = NEW.task_id;
    NEW.question_id := t.question_id;
    NEW.chosen_response := NULL;
    NEW.confidence := NULL;
    NEW.explanation := NULL;
    NEW.time_spent_seconds := NULL;
    NEW.payload := NULL;
    NEW.reasons := NULL;
    IF t.question_id IS NULL THEN
        -- a task the backfill has not reached waits for it; a quarantined one quarantines this
        IF EXISTS (SELECT FROM whs_legacy.quarantine WHERE table_name = 'tasks' AND row_id = NEW.task_id) THEN
            PERFORM whs_legacy.quarantine_v1('submissions', NEW.id, 'its task is in quarantine',
                                             NEW.submission_data::text);
        END IF;
        RETURN NEW;
    END IF;
    p := whs_legacy.parse_submission_v3(t.question_type, t.allow_tie, NEW.submission_data);
    IF p.reason IS NOT NULL THEN
        PERFORM whs_legacy.quarantine_v1('submissions', NEW.id, p.reason, NEW.submission_data::text);
        PERFORM whs_legacy.note_v1('submissions', NEW.id, NULL);
        RETURN NEW;
    END IF;
    NEW.chosen_response := p.chosen;
    NEW.confidence := p.confidence;
    NEW.explanation := p.explanation;
    NEW.time_spent_seconds := p.time_spent;
    NEW.payload := p.payload;
    NEW.reasons := p.reasons;
    PERFORM whs_legacy.release_v1('submissions', NEW.id);
    PERFORM whs_legacy.note_v1('submissions', NEW.id, p.notes);
    RETURN NEW;
END
$$;

-- Dual writes, submissions, after: the task's consensus follows its answers.
CREATE OR REPLACE FUNCTION whs_legacy.submissions_dual_write_after_v1() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM public.consensus_rebuild_v1(OLD.task_id);
        IF TG_OP = 'DELETE' THEN
            PERFORM whs_legacy.release_v1('submissions', OLD.id);
            RETURN NULL;
        END IF;
    END IF;
    IF TG_OP = 'INSERT' OR NEW.task_id IS DISTINCT FROM OLD.task_id THEN
        PERFORM public.consensus_rebuild_v1(NEW.task_id);
    END IF;
    RETURN NULL;
END
$$;

-- A pending task of a backfill batch, parsed (hash: its question's content_hash).
DO $$
BEGIN
    IF to_regtype('whs_legacy.parsed_task_v2') IS NULL THEN
        CREATE TYPE whs_legacy.parsed_task_v2 AS (
            id uuid, task_type text, instructions text, creator_id uuid,
            qtype text, content jsonb, gold jsonb, reason text, hash bytea, question_id uuid);
    END IF;
END
$$;

-- One backfill batch of tasks after p_after (keyset on id), set-based: the batch's keys from the
-- primary key alone, its pending rows parsed in one statement, one question per distinct
-- content stored with one INSERT ... ON CONFLICT, the tasks pointed at them with one UPDATE.
-- Gold: a question another task already holds keeps its gold; otherwise the batch's first
-- gold (by task id) becomes it. A task naming another gold goes to quarantine.
-- Runs with the caller's session_replication_role set to origin; switches to replica only for
-- its own update of the legacy table, so that legacy triggers (updated_at) never fire.
CREATE OR REPLACE FUNCTION whs_legacy.backfill_tasks_v2(p_after uuid, p_limit integer,
    OUT last_id uuid, OUT migrated integer, OUT quarantined integer, OUT seen integer)
LANGUAGE plpgsql AS $$
DECLARE
    keys uuid[];
    b whs_legacy.parsed_task_v2[];
    done uuid[];
BEGIN
    migrated := 0;
    quarantined := 0;
    SELECT coalesce(array_agg(k.id ORDER BY k.id), '{}') INTO keys
      FROM (SELECT t.id FROM public.tasks t
             WHERE t.id > coalesce(p_after, '00000000-0000-0000-0000-000000000000')
             ORDER BY t.id LIMIT p_limit) AS k;
    seen := cardinality(keys);
    IF seen = 0 THEN
        RETURN;
    END IF;
    last_id := keys[seen];
    SELECT coalesce(array_agg(ROW(
               t.id, t.task_type, t.instructions, t.creator_id, p.qtype, p.content, p.gold,
               CASE WHEN p.reason IS NOT NULL THEN p.reason
                    -- what the questions table's CHECKs would refuse
                    WHEN NOT public.question_content_valid(p.qtype, p.content)
                      OR NOT public.gold_standard_valid(p.qtype, p.content, p.gold)
                        THEN 'the content is not a valid ' || p.qtype || ' question' END,
               CASE WHEN p.reason IS NULL THEN public.question_content_hash(p.qtype, p.content) END,
               NULL)::whs_legacy.parsed_task_v2 ORDER BY t.id), '{}')
      INTO b
      FROM public.tasks t
     CROSS JOIN LATERAL whs_legacy.parse_instructions_v1(t.task_type, t.instructions) AS p
     WHERE t.id = ANY (keys) AND t.question_id IS NULL;
    IF cardinality(b) = 0 THEN
        RETURN;
    END IF;
    INSERT INTO public.questions (question_type, content, gold_standard, source_dataset,
                                  metadata, created_by)
    SELECT DISTINCT ON (x.hash) x.qtype, x.content,
           first_value(x.gold) OVER (PARTITION BY x.hash ORDER BY x.gold IS NULL, x.id),
           'legacy', '{"migrated_from": "tasks.instructions"}', x.creator_id
      FROM unnest(b) AS x
     WHERE x.reason IS NULL
     ORDER BY x.hash, x.id
    ON CONFLICT (content_hash) DO NOTHING;
    -- A statement of its own: it sees the questions another session stored meanwhile.
    WITH q AS (
        SELECT q.id, q.content_hash, q.gold_standard,
               q.gold_standard IS NOT NULL
               AND EXISTS (SELECT FROM public.tasks t WHERE t.question_id = q.id) AS held
          FROM public.questions q
         WHERE q.content_hash = ANY (ARRAY(SELECT DISTINCT x.hash FROM unnest(b) AS x
                                            WHERE x.reason IS NULL))
    ), g AS (
        SELECT DISTINCT ON (x.hash) x.hash,
               first_value(x.gold) OVER (PARTITION BY x.hash ORDER BY x.gold IS NULL, x.id) AS gold
          FROM unnest(b) AS x WHERE x.reason IS NULL
         ORDER BY x.hash, x.id
    ), w AS (
        SELECT q.id, q.content_hash, q.gold_standard AS had,
               CASE WHEN q.held THEN q.gold_standard
                    ELSE coalesce(g.gold, q.gold_standard) END AS gold
          FROM q JOIN g ON g.hash = q.content_hash
    ), gilded AS (
        UPDATE public.questions q SET gold_standard = w.gold
          FROM w
         WHERE q.id = w.id AND w.gold IS DISTINCT FROM w.had
    )
    SELECT array_agg(ROW(
               x.id, x.task_type, x.instructions, x.creator_id, x.qtype, x.content, x.gold,
               CASE WHEN x.reason IS NOT NULL THEN x.reason
                    WHEN w.id IS NULL THEN 'its question vanished during the batch'
                    WHEN x.gold IS NOT NULL AND x.gold IS DISTINCT FROM w.gold
                        THEN 'gold ' || x.gold::text || ' conflicts with gold ' || w.gold::text
                             || ' of the same question in another task' END,
               x.hash, w.id)::whs_legacy.parsed_task_v2 ORDER BY x.id)
      INTO b
      FROM unnest(b) AS x LEFT JOIN w ON w.content_hash = x.hash;
    PERFORM set_config('session_replication_role', 'replica', true);
    -- A row the old application changed since it was read keeps the trigger's result.
    WITH u AS (
        UPDATE public.tasks t
           SET question_id = x.question_id,
               consensus_threshold = whs_legacy.threshold_of_v1(t.max_submissions)
          FROM unnest(b) AS x
         WHERE t.id = ANY (keys) AND t.id = x.id AND x.reason IS NULL
           AND t.question_id IS NULL AND t.instructions = x.instructions
           AND t.task_type = x.task_type
        RETURNING t.id)
    SELECT coalesce(array_agg(u.id), '{}') INTO done FROM u;
    PERFORM set_config('session_replication_role', 'origin', true);
    migrated := cardinality(done);
    DELETE FROM whs_legacy.quarantine WHERE table_name = 'tasks' AND row_id = ANY (done);
    INSERT INTO whs_legacy.quarantine AS z (table_name, row_id, reason, raw)
    SELECT 'tasks', x.id, x.reason, x.instructions FROM unnest(b) AS x WHERE x.reason IS NOT NULL
    ON CONFLICT (table_name, row_id) DO UPDATE
       SET reason = excluded.reason, raw = excluded.raw, seen_at = CURRENT_TIMESTAMP
     WHERE (z.reason, z.raw) IS DISTINCT FROM (excluded.reason, excluded.raw);
    quarantined := (SELECT count(*) FROM unnest(b) AS x WHERE x.reason IS NOT NULL);
    INSERT INTO whs_legacy.consensus_queue (task_id, rebuild)
    SELECT unnest(done), false ON CONFLICT DO NOTHING;
END
$$;

-- One backfill batch of submissions after p_after, set-based: keys from the primary key, the
-- pending rows parsed, written and quarantined by one statement; every task the batch touched
-- goes to the consensus queue.
CREATE OR REPLACE FUNCTION whs_legacy.backfill_submissions_v2(p_after uuid, p_limit integer,
    OUT last_id uuid, OUT migrated integer, OUT quarantined integer, OUT seen integer)
LANGUAGE plpgsql AS $$
DECLARE
    keys uuid[];
BEGIN
    migrated := 0;
    quarantined := 0;
    SELECT coalesce(array_agg(k.id ORDER BY k.id), '{}') INTO keys
      FROM (SELECT s.id FROM public.submissions s
             WHERE s.id > coalesce(p_after, '00000000-0000-0000-0000-000000000000')
             ORDER BY s.id LIMIT p_limit) AS k;
    seen := cardinality(keys);
    IF seen = 0 THEN
        RETURN;
    END IF;
    last_id := keys[seen];
    PERFORM set_config('session_replication_role', 'replica', true);
    WITH src AS MATERIALIZED (
        SELECT s.id, s.task_id, s.submission_data, t.question_id,
               CASE WHEN t.question_id IS NULL THEN 'its task is in quarantine' ELSE p.reason END
                   AS reason,
               p.chosen, p.confidence, p.explanation, p.time_spent, p.payload, p.notes,
               p.reasons
          FROM public.submissions s
          JOIN public.tasks t ON t.id = s.task_id
          LEFT JOIN public.questions q ON q.id = t.question_id
          LEFT JOIN LATERAL whs_legacy.parse_submission_v3(q.question_type, t.allow_tie,
                                                           s.submission_data) AS p ON true
         WHERE s.id = ANY (keys) AND s.chosen_response IS NULL AND s.payload IS NULL
    ), upd AS (
        -- A row the old application changed since it was read keeps the trigger's result.
        UPDATE public.submissions s
           SET question_id = x.question_id, chosen_response = x.chosen,
               confidence = x.confidence, explanation = x.explanation,
               time_spent_seconds = x.time_spent, payload = x.payload, reasons = x.reasons
          FROM src AS x
         WHERE s.id = ANY (keys) AND s.id = x.id AND x.reason IS NULL
           AND s.chosen_response IS NULL AND s.payload IS NULL
           AND s.submission_data = x.submission_data
        RETURNING s.id
    ), released AS (
        DELETE FROM whs_legacy.quarantine
         WHERE table_name = 'submissions' AND row_id IN (SELECT upd.id FROM upd)
    ), noted AS (
        INSERT INTO whs_legacy.normalised AS z (table_name, row_id, notes)
        SELECT 'submissions', x.id, x.notes
          FROM src AS x JOIN upd ON upd.id = x.id
         WHERE cardinality(x.notes) > 0
        ON CONFLICT (table_name, row_id) DO UPDATE
           SET notes = excluded.notes, seen_at = CURRENT_TIMESTAMP
         WHERE z.notes IS DISTINCT FROM excluded.notes
    ), held AS (
        INSERT INTO whs_legacy.quarantine AS z (table_name, row_id, reason, raw)
        SELECT 'submissions', x.id, x.reason, x.submission_data::text
          FROM src AS x WHERE x.reason IS NOT NULL
        ON CONFLICT (table_name, row_id) DO UPDATE
           SET reason = excluded.reason, raw = excluded.raw, seen_at = CURRENT_TIMESTAMP
         WHERE (z.reason, z.raw) IS DISTINCT FROM (excluded.reason, excluded.raw)
    ), queued AS (
        -- quarantined answers count in total_responses too: every task seen is recomputed
        INSERT INTO whs_legacy.consensus_queue (task_id, rebuild)
        SELECT DISTINCT x.task_id, true FROM src AS x
        ON CONFLICT (task_id) DO UPDATE SET rebuild = true
    )
    SELECT (SELECT count(*) FROM upd), (SELECT count(*) FROM src WHERE src.reason IS NOT NULL)
      INTO migrated, quarantined;
    PERFORM set_config('session_replication_role', 'origin', true);
END
$$;

-- Up to p_limit queued tasks: consensus row made if missing, consensus recomputed from scratch.
CREATE OR REPLACE FUNCTION whs_legacy.drain_consensus_v1(p_limit integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    ids uuid[];
    again uuid[];
    t uuid;
BEGIN
    SELECT array_agg(q.task_id ORDER BY q.task_id),
           array_agg(q.task_id ORDER BY q.task_id) FILTER (WHERE q.rebuild)
      INTO ids, again
      FROM (SELECT task_id, rebuild FROM whs_legacy.consensus_queue ORDER BY task_id
             LIMIT p_limit FOR UPDATE SKIP LOCKED) AS q;
    IF ids IS NULL THEN
        RETURN 0;
    END IF;
    -- an old-path write to one of these tasks makes its consensus row itself: one at a time
    PERFORM 1 FROM public.tasks WHERE id = ANY (ids) ORDER BY id FOR SHARE;
    PERFORM whs_legacy.create_consensus_v1(ids);
    FOREACH t IN ARRAY coalesce(again, '{}') LOOP
        PERFORM public.consensus_rebuild_v1(t);
    END LOOP;
    DELETE FROM whs_legacy.consensus_queue WHERE task_id = ANY (ids);
    RETURN cardinality(ids);
END
$$;
