-- Statements around schema revisions (the Alembic environment, `whstudio db`).

-- name: lock_timeout
-- A revision that waits on a lock would stall every query queued behind it: give up instead.
SET lock_timeout = '10s';

-- name: lock
-- Held while the schema is brought to head, so that servers starting together migrate one at a
-- time. Session-level: taken and released on an autocommit connection.
SELECT pg_advisory_lock(hashtext('whstudio.migrate'));

-- name: unlock
SELECT pg_advisory_unlock(hashtext('whstudio.migrate'));

-- name: version_table
-- The table where Alembic records the revision; NULL in an empty database.
SELECT to_regclass('public.alembic_version');

-- name: version
SELECT version_num FROM alembic_version;
