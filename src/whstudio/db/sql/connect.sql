-- Whether a URL reaches PostgreSQL directly (whstudio.db.connect.goes_through_pooler).

-- name: backend_pid
-- The server session serving this statement: one per connection unless a pooler is in between.
SELECT pg_backend_pid();
