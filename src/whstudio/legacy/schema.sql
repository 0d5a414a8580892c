-- The legacy WorldHuman Studio schema, written from ../shared/docs/legacy-schema.md: the database
-- an online migration starts from. A test fixture and the generator's target, never run on a
-- real deployment (those already have it). The notification tables come from a separate script
-- of the old deployment (notifications.sql), which a deployment may never have run.

CREATE FUNCTION update_updated_at_column() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at = CURRENT_TIMESTAMP;
    RETURN NEW;
END
$$;

CREATE TABLE users (
    id                 UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    world_id           TEXT NOT NULL UNIQUE,
    nullifier_hash     TEXT NOT NULL UNIQUE,
    verification_level TEXT NOT NULL DEFAULT 'orb' CHECK (verification_level IN ('orb', 'device')),
    wallet_address     TEXT UNIQUE,
    username           TEXT UNIQUE,
    profile_image_url  TEXT,
    bio                TEXT,
    reputation_score   INTEGER DEFAULT 0 CHECK (reputation_score >= 0),
    total_earned       DECIMAL(18, 8) DEFAULT 0 CHECK (total_earned >= 0),
    is_active          BOOLEAN DEFAULT true,
    created_at         TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
    updated_at         TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE task_categories (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name        TEXT NOT NULL UNIQUE,
    description TEXT,
    icon        TEXT,
    is_active   BOOLEAN DEFAULT true,
    created_at  TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE tasks (
    id                     UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    creator_id             UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    category_id            UUID REFERENCES task_categories (id) ON DELETE SET NULL,
    title                  TEXT NOT NULL,
    description            TEXT NOT NULL,
    instructions           TEXT NOT NULL,
    task_type              TEXT NOT NULL DEFAULT 'data_entry',
    difficulty_level       INTEGER NOT NULL DEFAULT 1 CHECK (difficulty_level BETWEEN 1 AND 5),
    estimated_time_minutes INTEGER CHECK (estimated_time_minutes > 0),
    reward_amount          DECIMAL(18, 8) NOT NULL CHECK (reward_amount > 0),
    reward_currency        TEXT NOT NULL DEFAULT 'WLD' CHECK (reward_currency IN ('WLD', 'ETH', 'USDC')),
    max_submissions        INTEGER DEFAULT 1 CHECK (max_submissions > 0),
    requires_verification  BOOLEAN DEFAULT true,
    verification_criteria  JSONB,
    attachment_urls        TEXT[],
    status                 TEXT NOT NULL DEFAULT 'draft'
        CHECK (status IN ('draft', 'active', 'paused', 'completed', 'cancelled')),
    priority               INTEGER DEFAULT 3 CHECK (priority BETWEEN 1 AND 5),
    expires_at             TIMESTAMPTZ,
    created_at             TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
    updated_at             TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE submissions (
    id                  UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    task_id             UUID NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    user_id             UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    submitter_nullifier TEXT NOT NULL,
    submission_data     JSONB NOT NULL,
    attachments_urls    TEXT[],
    time_spent_minutes  INTEGER CHECK (time_spent_minutes > 0),
    quality_score       DECIMAL(3, 2) CHECK (quality_score >= 0 AND quality_score <= 5),
    status              TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'approved', 'rejected', 'under_review')),
    reviewer_id         UUID REFERENCES users (id) ON DELETE SET NULL,
    review_notes        TEXT,
    reviewed_at         TIMESTAMPTZ,
    is_paid             BOOLEAN DEFAULT false,
    created_at          TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
    updated_at          TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
    UNIQUE (task_id, user_id),
    UNIQUE (task_id, submitter_nullifier)
);

CREATE TABLE payments (
    id                 UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    task_id            UUID REFERENCES tasks (id) ON DELETE SET NULL,
    submission_id      UUID REFERENCES submissions (id) ON DELETE SET NULL,
    payer_id           UUID REFERENCES users (id) ON DELETE SET NULL,
    payee_id           UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    amount             DECIMAL(18, 8) NOT NULL CHECK (amount > 0),
    currency           TEXT NOT NULL DEFAULT 'WLD' CHECK (currency IN ('WLD', 'ETH', 'USDC')),
    transaction_hash   TEXT UNIQUE,
    blockchain_network TEXT DEFAULT 'worldchain',
    block_number       BIGINT,
    gas_fee            DECIMAL(18, 8),
    status             TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'processing', 'completed', 'failed', 'refunded')),
    metadata           JSONB,
    confirmed_at       TIMESTAMPTZ,
    created_at         TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
    updated_at         TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE user_sessions (
    id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_token TEXT NOT NULL UNIQUE,
    ip_address    INET,
    user_agent    TEXT,
    expires_at    TIMESTAMPTZ NOT NULL,
    created_at    TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE task_reviews (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    task_id     UUID NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    reviewer_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    rating      INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    comment     TEXT,
    created_at  TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
    updated_at  TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
    UNIQUE (task_id, reviewer_id)
);

CREATE TABLE disputes (
    id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    submission_id UUID NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    raised_by     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reason        TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'open'
        CHECK (status IN ('open', 'investigating', 'resolved', 'rejected')),
    resolution    TEXT,
    resolved_by   UUID REFERENCES users (id) ON DELETE SET NULL,
    resolved_at   TIMESTAMPTZ,
    created_at    TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
    updated_at    TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP
);

CREATE TRIGGER update_users_updated_at BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER update_tasks_updated_at BEFORE UPDATE ON tasks
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER update_submissions_updated_at BEFORE UPDATE ON submissions
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER update_payments_updated_at BEFORE UPDATE ON payments
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER update_task_reviews_updated_at BEFORE UPDATE ON task_reviews
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER update_disputes_updated_at BEFORE UPDATE ON disputes
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

CREATE INDEX idx_tasks_creator_id ON tasks (creator_id);
CREATE INDEX idx_tasks_category_id ON tasks (category_id);
CREATE INDEX idx_tasks_status_created_at ON tasks (status, created_at);
CREATE INDEX idx_tasks_active_expires ON tasks (status, expires_at) WHERE status = 'active';
CREATE INDEX idx_tasks_reward ON tasks (reward_amount DESC, created_at);
CREATE INDEX idx_submissions_task_id ON submissions (task_id);
CREATE INDEX idx_submissions_user_id ON submissions (user_id);
CREATE INDEX idx_submissions_reviewer_id ON submissions (reviewer_id);
CREATE INDEX idx_submissions_status_created_at ON submissions (status, created_at);
CREATE INDEX idx_submissions_pending ON submissions (task_id, status) WHERE status = 'pending';
CREATE INDEX idx_payments_task_id ON payments (task_id);
CREATE INDEX idx_payments_submission_id ON payments (submission_id);
CREATE INDEX idx_payments_payer_id ON payments (payer_id);
CREATE INDEX idx_payments_payee_id ON payments (payee_id);
CREATE INDEX idx_user_sessions_user_id ON user_sessions (user_id);
CREATE INDEX idx_task_reviews_task_id ON task_reviews (task_id);
CREATE INDEX idx_task_reviews_reviewer_id ON task_reviews (reviewer_id);
CREATE INDEX idx_disputes_submission_id ON disputes (submission_id);
CREATE INDEX idx_disputes_raised_by ON disputes (raised_by);
CREATE INDEX idx_disputes_resolved_by ON disputes (resolved_by);

INSERT INTO task_categories (name, description, icon) VALUES
    ('Data Entry', 'Enter and organise data', 'database'),
    ('Content Review', 'Review and moderate content', 'eye'),
    ('Translation', 'Translate text between languages', 'globe'),
    ('Transcription', 'Transcribe audio and video', 'mic'),
    ('Image Tagging', 'Label and tag images', 'image'),
    ('Quality Assurance', 'Check the quality of work', 'check-circle'),
    ('Research', 'Research and summarise', 'search'),
    ('Creative Tasks', 'Writing and design', 'palette');
