-- squawk-ignore-file ban-drop-function -- only in the migrate:down half, which removes what the up half added
-- squawk-ignore-file ban-drop-table -- only in the migrate:down half, which removes what the up half added
-- squawk-ignore-file ban-drop-view -- only in the migrate:down half, which removes what the up half added
-- squawk-ignore-file prefer-bigint-over-int -- every int column here is bounded far below 2^31 by a CHECK or by what it counts per task
-- squawk-ignore-file prefer-bigint-over-smallint -- the smallint holds a small bounded value (CHECK)
-- squawk-ignore-file prefer-robust-stmts -- a revision runs in one transaction (migrations/env.py): it applies whole or not at all, and IF [NOT] EXISTS would hide a schema that drifted
-- squawk-ignore-file require-concurrent-index-creation -- every index is on a table this same revision creates (empty)
-- squawk-ignore-file require-lock-timeout -- migrations/env.py sets lock_timeout before every revision
-- squawk-ignore-file require-statement-timeout -- a revision must run to the end; the lock_timeout env.py sets is what keeps it from stalling other sessions
-- migrate:up
-- The initial schema: accounts, versioned questions, tasks with their consensus rule, structured
-- submissions, one consensus row per task, per-response quality metrics and the two views.
-- Column names follow the legacy WorldHuman Studio schema where the two overlap, so that an
-- online migration of a legacy database lands on exactly this schema.

CREATE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := CURRENT_TIMESTAMP;
    RETURN NEW;
END
$$;

CREATE TABLE users (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    username           text NOT NULL,
    display_name       text,
    role               text NOT NULL DEFAULT 'annotator',
    password_hash      text,
    is_active          boolean NOT NULL DEFAULT true,
    -- identity carried over from legacy deployments (external identity service)
    world_id           text,
    nullifier_hash     text,
    verification_level text,
    wallet_address     text,
    profile_image_url  text,
    bio                text,
    reputation_score   integer NOT NULL DEFAULT 0,
    reputation_weight  double precision NOT NULL DEFAULT 1.0,
    total_earned       numeric(18, 8) NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at         timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT users_username_key UNIQUE (username),
    CONSTRAINT users_world_id_key UNIQUE (world_id),
    CONSTRAINT users_nullifier_hash_key UNIQUE (nullifier_hash),
    CONSTRAINT users_wallet_address_key UNIQUE (wallet_address),
    CONSTRAINT users_username_check CHECK (username ~ '^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$'),
    CONSTRAINT users_role_check CHECK (role IN ('annotator', 'reviewer', 'admin')),
    CONSTRAINT users_password_hash_check CHECK (password_hash IS NULL OR password_hash LIKE '$argon2%'),
    CONSTRAINT users_verification_level_check CHECK (verification_level IN ('orb', 'device')),
    CONSTRAINT users_reputation_score_check CHECK (reputation_score >= 0),
    CONSTRAINT users_reputation_weight_check CHECK (reputation_weight >= 0 AND reputation_weight <= 100),
    CONSTRAINT users_total_earned_check CHECK (total_earned >= 0)
);
CREATE TRIGGER users_set_updated_at BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE api_tokens (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text NOT NULL,
    token_prefix text NOT NULL,
    token_hash   bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    last_used_at timestamptz,
    expires_at   timestamptz,
    revoked_at   timestamptz,
    CONSTRAINT api_tokens_token_hash_key UNIQUE (token_hash),
    CONSTRAINT api_tokens_name_check CHECK (length(name) BETWEEN 1 AND 100),
    CONSTRAINT api_tokens_token_hash_check CHECK (length(token_hash) = 32),
    CONSTRAINT api_tokens_token_prefix_check CHECK (length(token_prefix) BETWEEN 4 AND 16)
);
CREATE UNIQUE INDEX api_tokens_user_name_live_idx ON api_tokens (user_id, name) WHERE revoked_at IS NULL;

-- Signed-in web sessions; the cookie carries the signed id. Signing out revokes the row.
CREATE TABLE web_sessions (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    user_agent   text,
    CONSTRAINT web_sessions_expiry_check CHECK (expires_at > created_at),
    CONSTRAINT web_sessions_user_agent_check CHECK (length(user_agent) <= 500)
);
CREATE INDEX web_sessions_user_idx ON web_sessions (user_id) WHERE revoked_at IS NULL;

-- Failed sign-ins per user name, to slow down guessing.
CREATE TABLE login_failures (
    key              text PRIMARY KEY,
    failures         integer NOT NULL DEFAULT 0,
    last_failure_at  timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT login_failures_failures_check CHECK (failures >= 0)
);

CREATE TABLE task_categories (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL,
    description text,
    icon        text,
    is_active   boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT task_categories_name_key UNIQUE (name)
);

-- Whether a question's content has the shape its type needs. Gold answers never live in content:
-- content is what annotators see.
CREATE FUNCTION question_content_valid(qtype text, content jsonb) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    ok boolean;
BEGIN
    IF jsonb_typeof(content) IS DISTINCT FROM 'object'
       OR content ? 'gold' OR content ? 'gold_standard'
       OR jsonb_typeof(content -> 'prompt') IS DISTINCT FROM 'string'
       OR btrim(content ->> 'prompt') = '' THEN
        RETURN false;
    END IF;
    CASE qtype
    WHEN 'pairwise_ab' THEN
        ok := jsonb_typeof(content -> 'optionA') = 'string'
          AND jsonb_typeof(content -> 'optionB') = 'string';
    WHEN 'ranking' THEN
        ok := jsonb_typeof(content -> 'options') = 'array'
          AND jsonb_array_length(content -> 'options') BETWEEN 2 AND 20
          AND NOT jsonb_path_exists(content, '$.options[*] ? (@.type() != "string")');
    WHEN 'voice_transcription' THEN
        ok := jsonb_typeof(content -> 'audio_url') = 'string'
          AND btrim(content ->> 'audio_url') <> '';
    ELSE
        -- text_generation needs only the prompt; unknown types are refused by their own check.
        ok := true;
    END CASE;
    -- A CHECK passes on NULL, so an unknown answer must count as invalid.
    RETURN coalesce(ok, false);
END
$$;

-- Whether `ranking` (a JSON array) is a permutation of 0..n-1.
CREATE FUNCTION is_permutation(ranking jsonb, n integer) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    IF n IS NULL OR jsonb_typeof(ranking) IS DISTINCT FROM 'array'
       OR jsonb_array_length(ranking) <> n
       OR jsonb_path_exists(ranking, '$[*] ? (@.type() != "number" || @ != @.floor())') THEN
        RETURN false;
    END IF;
    RETURN coalesce(
        (SELECT count(DISTINCT e::numeric) = n AND min(e::numeric) = 0 AND max(e::numeric) = n - 1
           FROM jsonb_array_elements_text(ranking) AS e),
        false);
END
$$;

-- Whether a gold answer fits its question: pairwise "A", "B" or "tie"; ranking a permutation of
-- the option indexes; free text a non-empty string (reference text or transcript).
CREATE FUNCTION gold_standard_valid(qtype text, content jsonb, gold jsonb) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    IF gold IS NULL THEN
        RETURN true;
    END IF;
    CASE qtype
    WHEN 'pairwise_ab' THEN
        RETURN gold IN ('"A"'::jsonb, '"B"'::jsonb, '"tie"'::jsonb);
    WHEN 'ranking' THEN
        RETURN public.is_permutation(gold, jsonb_array_length(content -> 'options'));
    ELSE
        RETURN coalesce(jsonb_typeof(gold) = 'string' AND btrim(gold #>> '{}') <> '', false);
    END CASE;
END
$$;

-- The identity of a question's content: SHA-256 of its type and its canonical JSONB text.
-- convert_to() is only STABLE in the catalog, but with a fixed target encoding its result cannot
-- change, so the wrapper may be IMMUTABLE and feed a generated column.
CREATE FUNCTION question_content_hash(qtype text, content jsonb) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN sha256(convert_to(qtype || ':' || content::text, 'UTF8'));

CREATE TABLE questions (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    lineage_id     uuid NOT NULL,
    version        integer NOT NULL DEFAULT 1,
    question_type  text NOT NULL,
    content        jsonb NOT NULL,
    content_hash   bytea NOT NULL
        GENERATED ALWAYS AS (question_content_hash(question_type, content)) STORED,
    gold_standard  jsonb,
    source_dataset text,
    source_ref     text,
    metadata       jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_by     uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at     timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT questions_content_hash_key UNIQUE (content_hash),
    CONSTRAINT questions_lineage_version_key UNIQUE (lineage_id, version),
    CONSTRAINT questions_question_type_check
        CHECK (question_type IN ('pairwise_ab', 'ranking', 'text_generation', 'voice_transcription')),
    CONSTRAINT questions_content_check CHECK (question_content_valid(question_type, content)),
    CONSTRAINT questions_gold_standard_check
        CHECK (gold_standard_valid(question_type, content, gold_standard)),
    CONSTRAINT questions_version_check CHECK (version >= 1),
    CONSTRAINT questions_metadata_check CHECK (jsonb_typeof(metadata) = 'object'),
    CONSTRAINT questions_source_dataset_check CHECK (length(source_dataset) BETWEEN 1 AND 200)
);
CREATE INDEX questions_source_idx ON questions (source_dataset, source_ref);
CREATE INDEX questions_created_by_idx ON questions (created_by);

-- A question's first version starts its own lineage.
CREATE FUNCTION questions_default_lineage() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.lineage_id IS NULL THEN
        NEW.lineage_id := NEW.id;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER questions_default_lineage BEFORE INSERT ON questions
    FOR EACH ROW EXECUTE FUNCTION questions_default_lineage();

CREATE TABLE tasks (
    id                       uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    question_id              uuid NOT NULL REFERENCES questions (id),
    creator_id               uuid REFERENCES users (id) ON DELETE SET NULL,
    category_id              uuid REFERENCES task_categories (id) ON DELETE SET NULL,
    title                    text NOT NULL,
    description              text NOT NULL DEFAULT '',
    consensus_threshold      integer NOT NULL DEFAULT 3,
    min_agreement_percentage numeric(5, 2) NOT NULL DEFAULT 70.00,
    allow_tie                boolean NOT NULL DEFAULT false,
    status                   text NOT NULL DEFAULT 'active',
    priority                 integer NOT NULL DEFAULT 3,
    expires_at               timestamptz,
    difficulty_level         integer NOT NULL DEFAULT 1,
    estimated_time_minutes   integer,
    reward_amount            numeric(18, 8) NOT NULL DEFAULT 0,
    reward_currency          text NOT NULL DEFAULT 'WLD',
    created_at               timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at               timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT tasks_title_check CHECK (length(title) BETWEEN 1 AND 500),
    CONSTRAINT tasks_consensus_threshold_check CHECK (consensus_threshold BETWEEN 1 AND 10000),
    CONSTRAINT tasks_min_agreement_percentage_check
        CHECK (min_agreement_percentage > 0 AND min_agreement_percentage <= 100),
    CONSTRAINT tasks_status_check
        CHECK (status IN ('draft', 'active', 'paused', 'completed', 'cancelled')),
    CONSTRAINT tasks_priority_check CHECK (priority BETWEEN 1 AND 5),
    CONSTRAINT tasks_difficulty_level_check CHECK (difficulty_level BETWEEN 1 AND 5),
    CONSTRAINT tasks_estimated_time_minutes_check CHECK (estimated_time_minutes > 0),
    CONSTRAINT tasks_reward_amount_check CHECK (reward_amount >= 0),
    CONSTRAINT tasks_reward_currency_check CHECK (reward_currency IN ('WLD', 'ETH', 'USDC'))
);
CREATE INDEX tasks_question_id_idx ON tasks (question_id);
CREATE INDEX tasks_creator_id_idx ON tasks (creator_id);
CREATE INDEX tasks_category_id_idx ON tasks (category_id);
CREATE INDEX tasks_status_created_idx ON tasks (status, created_at, id);
CREATE INDEX tasks_active_priority_idx ON tasks (priority DESC, created_at, id) WHERE status = 'active';
CREATE TRIGGER tasks_set_updated_at BEFORE UPDATE ON tasks
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE submissions (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    task_id             uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    user_id             uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    question_id         uuid NOT NULL REFERENCES questions (id),
    response_version    integer NOT NULL DEFAULT 1,
    is_latest           boolean NOT NULL DEFAULT true,
    chosen_response     text,
    confidence          smallint,
    explanation         text,
    time_spent_seconds  integer,
    shown_order         text,
    payload             jsonb,
    idempotency_key     text,
    submitter_nullifier text,
    status              text NOT NULL DEFAULT 'pending',
    reviewer_id         uuid REFERENCES users (id) ON DELETE SET NULL,
    review_notes        text,
    reviewed_at         timestamptz,
    created_at          timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at          timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT submissions_task_user_version_key UNIQUE (task_id, user_id, response_version),
    CONSTRAINT submissions_response_version_check CHECK (response_version >= 1),
    CONSTRAINT submissions_chosen_response_check CHECK (chosen_response IN ('A', 'B', 'tie')),
    CONSTRAINT submissions_confidence_check CHECK (confidence BETWEEN 1 AND 5),
    CONSTRAINT submissions_explanation_check CHECK (length(explanation) <= 5000),
    CONSTRAINT submissions_time_spent_seconds_check CHECK (time_spent_seconds BETWEEN 0 AND 86400),
    CONSTRAINT submissions_shown_order_check CHECK (shown_order IN ('AB', 'BA')),
    CONSTRAINT submissions_payload_check CHECK (jsonb_typeof(payload) = 'object'),
    CONSTRAINT submissions_answer_check CHECK ((chosen_response IS NULL) <> (payload IS NULL)),
    CONSTRAINT submissions_idempotency_key_check CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    CONSTRAINT submissions_status_check
        CHECK (status IN ('pending', 'approved', 'rejected', 'under_review'))
);
CREATE UNIQUE INDEX submissions_latest_idx ON submissions (task_id, user_id) WHERE is_latest;
CREATE UNIQUE INDEX submissions_nullifier_latest_idx ON submissions (task_id, submitter_nullifier)
    WHERE is_latest AND submitter_nullifier IS NOT NULL;
CREATE UNIQUE INDEX submissions_idempotency_idx ON submissions (user_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX submissions_user_created_idx ON submissions (user_id, created_at);
CREATE INDEX submissions_question_id_idx ON submissions (question_id);
CREATE INDEX submissions_reviewer_id_idx ON submissions (reviewer_id);
CREATE INDEX submissions_status_created_idx ON submissions (status, created_at);
CREATE TRIGGER submissions_set_updated_at BEFORE UPDATE ON submissions
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- A submission answers the task's question (or another version of it) in the shape its type
-- needs. Rules that cross tables cannot be CHECK constraints, so this trigger holds them.
CREATE FUNCTION submissions_check_answer() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    t_question uuid;
    t_allow_tie boolean;
    q_type text;
    q_content jsonb;
    q_lineage uuid;
    t_lineage uuid;
BEGIN
    SELECT t.question_id, t.allow_tie INTO t_question, t_allow_tie FROM tasks t WHERE t.id = NEW.task_id;
    IF NEW.question_id IS NULL THEN
        NEW.question_id := t_question;
    END IF;
    SELECT q.question_type, q.content, q.lineage_id INTO q_type, q_content, q_lineage
      FROM questions q WHERE q.id = NEW.question_id;
    SELECT q.lineage_id INTO t_lineage FROM questions q WHERE q.id = t_question;
    IF q_lineage IS DISTINCT FROM t_lineage THEN
        RAISE EXCEPTION 'submission answers question % which is not a version of the task''s question', NEW.question_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'submissions_question_check';
    END IF;
    IF q_type = 'pairwise_ab' THEN
        IF NEW.chosen_response IS NULL THEN
            RAISE EXCEPTION 'a pairwise_ab answer needs chosen_response'
                USING ERRCODE = 'check_violation', CONSTRAINT = 'submissions_answer_type_check';
        END IF;
        IF NEW.chosen_response = 'tie' AND NOT t_allow_tie THEN
            RAISE EXCEPTION 'this task does not allow a tie'
                USING ERRCODE = 'check_violation', CONSTRAINT = 'submissions_tie_check';
        END IF;
    ELSIF NEW.chosen_response IS NOT NULL OR NOT (
        (q_type = 'ranking' AND is_permutation(NEW.payload -> 'ranking', jsonb_array_length(q_content -> 'options')))
        OR (q_type = 'text_generation' AND jsonb_typeof(NEW.payload -> 'text') = 'string'
            AND btrim(NEW.payload ->> 'text') <> '')
        OR (q_type = 'voice_transcription' AND jsonb_typeof(NEW.payload -> 'transcript') = 'string')
    ) THEN
        RAISE EXCEPTION 'the answer does not fit a % question', q_type
            USING ERRCODE = 'check_violation', CONSTRAINT = 'submissions_answer_type_check';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER submissions_check_answer BEFORE INSERT OR UPDATE OF task_id, question_id, chosen_response, payload
    ON submissions FOR EACH ROW EXECUTE FUNCTION submissions_check_answer();

-- Exactly one consensus row per task: created with the task, removed with it.
CREATE TABLE response_consensus (
    task_id                       uuid PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
    count_a                       integer NOT NULL DEFAULT 0,
    count_b                       integer NOT NULL DEFAULT 0,
    count_tie                     integer NOT NULL DEFAULT 0,
    total_responses               integer NOT NULL DEFAULT 0,
    weight_a                      numeric(18, 6) NOT NULL DEFAULT 0,
    weight_b                      numeric(18, 6) NOT NULL DEFAULT 0,
    weight_tie                    numeric(18, 6) NOT NULL DEFAULT 0,
    confidence_sum                integer NOT NULL DEFAULT 0,
    time_spent_sum                bigint NOT NULL DEFAULT 0,
    agreement_percentage          numeric(5, 2) NOT NULL DEFAULT 0,
    weighted_agreement_percentage numeric(5, 2) NOT NULL DEFAULT 0,
    final_answer                  jsonb,
    consensus_reached             boolean NOT NULL DEFAULT false,
    reached_at                    timestamptz,
    details                       jsonb NOT NULL DEFAULT '{}'::jsonb,
    version                       bigint NOT NULL DEFAULT 0,
    updated_at                    timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT response_consensus_counts_check
        CHECK (count_a >= 0 AND count_b >= 0 AND count_tie >= 0
               AND total_responses >= count_a + count_b + count_tie),
    CONSTRAINT response_consensus_weights_check
        CHECK (weight_a >= 0 AND weight_b >= 0 AND weight_tie >= 0),
    CONSTRAINT response_consensus_agreement_check CHECK (agreement_percentage BETWEEN 0 AND 100),
    CONSTRAINT response_consensus_weighted_agreement_check
        CHECK (weighted_agreement_percentage BETWEEN 0 AND 100),
    CONSTRAINT response_consensus_reached_check CHECK (NOT consensus_reached OR final_answer IS NOT NULL),
    CONSTRAINT response_consensus_sums_check CHECK (confidence_sum >= 0 AND time_spent_sum >= 0),
    CONSTRAINT response_consensus_details_check CHECK (jsonb_typeof(details) = 'object')
);

CREATE FUNCTION tasks_create_consensus() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO response_consensus (task_id) VALUES (NEW.id);
    RETURN NULL;
END
$$;
CREATE TRIGGER tasks_create_consensus AFTER INSERT ON tasks
    FOR EACH ROW EXECUTE FUNCTION tasks_create_consensus();

CREATE TABLE response_quality_metrics (
    submission_id            uuid PRIMARY KEY REFERENCES submissions (id) ON DELETE CASCADE,
    task_id                  uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    user_id                  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    gold_correct             boolean,
    agreement_with_consensus numeric(5, 2),
    time_spent_seconds       integer,
    is_outlier               boolean NOT NULL DEFAULT false,
    outlier_reasons          text[] NOT NULL DEFAULT '{}',
    flagged_for_review       boolean NOT NULL DEFAULT false,
    computed_at              timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT response_quality_metrics_agreement_check
        CHECK (agreement_with_consensus BETWEEN 0 AND 100),
    CONSTRAINT response_quality_metrics_time_check CHECK (time_spent_seconds >= 0)
);
CREATE INDEX response_quality_metrics_task_idx ON response_quality_metrics (task_id);
CREATE INDEX response_quality_metrics_user_idx ON response_quality_metrics (user_id);
CREATE INDEX response_quality_metrics_flagged_idx ON response_quality_metrics (task_id)
    WHERE flagged_for_review;

CREATE VIEW task_dashboard AS
SELECT t.id AS task_id,
       t.title,
       t.status,
       t.priority,
       t.expires_at,
       t.category_id,
       t.reward_amount,
       t.reward_currency,
       t.consensus_threshold,
       t.min_agreement_percentage,
       t.allow_tie,
       t.created_at,
       t.updated_at,
       q.id AS question_id,
       q.lineage_id AS question_lineage_id,
       q.version AS question_version,
       q.question_type,
       q.source_dataset,
       q.source_ref,
       left(q.content ->> 'prompt', 280) AS prompt_preview,
       q.gold_standard IS NOT NULL AS has_gold,
       c.total_responses,
       c.count_a,
       c.count_b,
       c.count_tie,
       c.agreement_percentage,
       c.weighted_agreement_percentage,
       c.final_answer,
       c.consensus_reached,
       c.reached_at,
       greatest(t.consensus_threshold - c.total_responses, 0) AS responses_needed
  FROM tasks t
  JOIN questions q ON q.id = t.question_id
  JOIN response_consensus c ON c.task_id = t.id;

CREATE VIEW user_submissions_detailed AS
SELECT s.id AS submission_id,
       s.task_id,
       s.user_id,
       u.username,
       s.question_id,
       q.question_type,
       q.source_dataset,
       t.title AS task_title,
       s.response_version,
       s.is_latest,
       s.chosen_response,
       s.confidence,
       s.explanation,
       s.time_spent_seconds,
       s.shown_order,
       s.payload,
       s.status,
       s.created_at,
       m.gold_correct,
       m.agreement_with_consensus,
       m.is_outlier,
       m.outlier_reasons,
       m.flagged_for_review,
       c.final_answer AS consensus_answer,
       c.consensus_reached
  FROM submissions s
  JOIN users u ON u.id = s.user_id
  JOIN tasks t ON t.id = s.task_id
  JOIN questions q ON q.id = s.question_id
  JOIN response_consensus c ON c.task_id = s.task_id
  LEFT JOIN response_quality_metrics m ON m.submission_id = s.id;

INSERT INTO task_categories (name, description, icon) VALUES
    ('Data Entry', 'Entering and structuring data', 'keyboard'),
    ('Content Review', 'Reviewing and rating content', 'eye'),
    ('Translation', 'Translating text between languages', 'languages'),
    ('Transcription', 'Turning audio into text', 'mic'),
    ('Image Tagging', 'Labelling images', 'image'),
    ('Quality Assurance', 'Checking the work of others', 'check'),
    ('Research', 'Finding and summarising information', 'search'),
    ('Creative Tasks', 'Writing and other creative work', 'pen');

-- migrate:down
DROP VIEW user_submissions_detailed;
DROP VIEW task_dashboard;
DROP TABLE response_quality_metrics;
DROP TRIGGER tasks_create_consensus ON tasks;
DROP FUNCTION tasks_create_consensus();
DROP TABLE response_consensus;
DROP TABLE submissions;
DROP FUNCTION submissions_check_answer();
DROP TABLE tasks;
DROP TABLE questions;
DROP FUNCTION questions_default_lineage();
DROP FUNCTION question_content_hash(text, jsonb);
DROP FUNCTION gold_standard_valid(text, jsonb, jsonb);
DROP FUNCTION is_permutation(jsonb, integer);
DROP FUNCTION question_content_valid(text, jsonb);
DROP TABLE task_categories;
DROP TABLE login_failures;
DROP TABLE web_sessions;
DROP TABLE api_tokens;
DROP TABLE users;
DROP FUNCTION set_updated_at();
