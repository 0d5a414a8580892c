-- What every pooled connection is configured with (whstudio.db.pool).

-- name: application_name
-- Names our sessions in pg_stat_activity and the server's log.
SET application_name = 'whstudio';
