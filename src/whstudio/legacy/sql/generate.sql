-- Legacy fixtures (whstudio.legacy.generate): rows loaded by COPY into the old deployment's
-- tables, as its own scripts created them (no schema prefix: the old deployment had none), the
-- MT-Bench deployment's rows, and the repairs an operator makes before contract.

-- name: categories
-- The categories the old schema script seeded.
SELECT id FROM task_categories ORDER BY name

-- name: copy_users
-- The generated users.
COPY users (id, world_id, nullifier_hash, verification_level, wallet_address,
username, profile_image_url, bio, reputation_score, total_earned, is_active,
created_at, updated_at) FROM STDIN

-- name: copy_tasks
-- The generated tasks, with their instructions in every shape.
COPY tasks (id, creator_id, category_id, title, description, instructions, task_type,
difficulty_level, estimated_time_minutes, reward_amount, reward_currency,
max_submissions, requires_verification, verification_criteria, attachment_urls,
status, priority, expires_at, created_at, updated_at) FROM STDIN

-- name: copy_submissions
-- The generated answers, in every client version's format.
COPY submissions (id, task_id, user_id, submitter_nullifier, submission_data,
attachments_urls, time_spent_minutes, quality_score, status, reviewer_id,
review_notes, reviewed_at, is_paid, created_at, updated_at) FROM STDIN

-- name: copy_payments
-- A payment for every tenth answer.
COPY payments (id, task_id, submission_id, payer_id, payee_id, amount, currency,
transaction_hash, block_number, gas_fee, status, metadata, confirmed_at, created_at) FROM STDIN

-- name: copy_user_sessions
-- A session for every fifth user.
COPY user_sessions (id, user_id, session_token, ip_address, user_agent, expires_at, created_at)
FROM STDIN

-- name: copy_task_reviews
-- A review of every twentieth task.
COPY task_reviews (id, task_id, reviewer_id, rating, comment, created_at) FROM STDIN

-- name: copy_disputes
-- A dispute over every hundredth answer.
COPY disputes (id, submission_id, raised_by, reason, status, created_at) FROM STDIN

-- name: copy_notifications
-- Notifications the deployment sent.
COPY notifications (id, user_id, type, title, message, data, is_read, created_at)
FROM STDIN

-- name: opt_out_of_email
-- Some users changed their preferences (those whose world_id ends in 3).
UPDATE notification_preferences SET email_enabled = false, updated_at = %s
WHERE user_id IN (SELECT id FROM users WHERE world_id LIKE '%%3')

-- name: count_notification_preferences
-- The preferences rows the notifications script's trigger made.
SELECT count(*) FROM notification_preferences

-- name: count_notification_templates
-- The templates the notifications script seeded.
SELECT count(*) FROM notification_templates

-- name: add_user
-- A user as the old application signed one up.
INSERT INTO users (world_id, nullifier_hash, username) VALUES (%s, %s, %s)
RETURNING id, nullifier_hash

-- name: add_task
-- An A/B task as the old application created it.
INSERT INTO tasks (creator_id, title, description, instructions, task_type,
reward_amount, max_submissions, status)
VALUES (%s, %s, %s, %s, 'pairwise_ab', 0.1, 3, 'active') RETURNING id

-- name: add_submission
-- An answer as the old application stored one.
INSERT INTO submissions (task_id, user_id, submitter_nullifier,
submission_data) VALUES (%s, %s, %s, %s)

-- name: repair_tasks
-- Every quarantined task, given well-formed instructions through the old path.
UPDATE tasks SET instructions = json_build_object('type', 'pairwise_ab',
'prompt', 'fixed ' || id, 'optionA', 'a', 'optionB', 'b')::text
WHERE id IN (SELECT row_id FROM whs_legacy.quarantine WHERE table_name = 'tasks')

-- name: repair_submissions
-- Every quarantined answer, given a readable choice through the old path.
UPDATE submissions SET submission_data = '{"chosen_response": "A"}'
WHERE id IN (SELECT row_id FROM whs_legacy.quarantine
WHERE table_name = 'submissions')
