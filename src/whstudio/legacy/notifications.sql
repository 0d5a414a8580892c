-- The old deployment's separate notifications script, run after the main schema (schema.sql):
-- its three tables, a trigger that gives every new user a preferences row, and the templates it
-- seeds. notification_templates is keyed by the template's name, not a UUID. A test fixture.

CREATE TABLE notifications (
    id         UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    type       TEXT NOT NULL,
    title      TEXT NOT NULL,
    message    TEXT NOT NULL,
    data       JSONB,
    is_read    BOOLEAN DEFAULT false,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE notification_preferences (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         UUID NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    email_enabled   BOOLEAN DEFAULT true,
    push_enabled    BOOLEAN DEFAULT true,
    task_updates    BOOLEAN DEFAULT true,
    payment_updates BOOLEAN DEFAULT true,
    created_at      TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
    updated_at      TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE notification_templates (
    id               VARCHAR(50) PRIMARY KEY,
    name             TEXT NOT NULL UNIQUE,
    type             TEXT NOT NULL,
    title_template   TEXT NOT NULL,
    message_template TEXT NOT NULL,
    is_active        BOOLEAN DEFAULT true,
    created_at       TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
    updated_at       TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP
);

CREATE FUNCTION create_default_notification_preferences() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO notification_preferences (user_id) VALUES (NEW.id)
    ON CONFLICT (user_id) DO NOTHING;
    RETURN NEW;
END
$$;

CREATE TRIGGER create_user_notification_preferences AFTER INSERT ON users
    FOR EACH ROW EXECUTE FUNCTION create_default_notification_preferences();
CREATE TRIGGER update_notification_preferences_updated_at BEFORE UPDATE ON notification_preferences
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER update_notification_templates_updated_at BEFORE UPDATE ON notification_templates
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

CREATE INDEX idx_notifications_user_id ON notifications (user_id);
CREATE INDEX idx_notifications_unread ON notifications (user_id, created_at) WHERE NOT is_read;

INSERT INTO notification_templates (id, name, type, title_template, message_template) VALUES
    ('task_available', 'New task available', 'task', 'A new task is open',
     'Task "{{title}}" pays {{reward}} {{currency}}.'),
    ('submission_approved', 'Submission approved', 'submission', 'Your answer was approved',
     'Your answer to "{{title}}" was approved.'),
    ('submission_rejected', 'Submission rejected', 'submission', 'Your answer was rejected',
     'Your answer to "{{title}}" was rejected: {{reason}}.'),
    ('payment_sent', 'Payment sent', 'payment', 'You were paid',
     '{{amount}} {{currency}} were sent to your wallet.'),
    ('dispute_update', 'Dispute update', 'dispute', 'Your dispute changed',
     'Dispute {{id}} is now {{status}}.');
