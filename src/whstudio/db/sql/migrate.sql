-- Statements around schema revisions (the Alembic environment, `whstudio db`).

-- name: lock_timeout
-- A revision that waits on a lock would stall every query queued behind it: give up instead.
SET lock_timeout = '10s';
