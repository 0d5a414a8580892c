-- name: insert
INSERT INTO webhooks (url, events, secret, description, created_by)
VALUES (%(url)s, %(events)s, %(secret)s, %(description)s, %(created_by)s)
RETURNING id, url, events, description, is_active, created_at;

-- name: list
SELECT w.id, w.url, w.events, w.description, w.is_active, w.created_at,
       left(w.secret, 6) AS secret_prefix,
       count(d.id) FILTER (WHERE d.status = 'pending')::integer AS pending,
       count(d.id) FILTER (WHERE d.status = 'delivered')::integer AS delivered,
       count(d.id) FILTER (WHERE d.status = 'failed')::integer AS failed
  FROM webhooks w
  LEFT JOIN webhook_deliveries d ON d.webhook_id = w.id
 GROUP BY w.id
 ORDER BY w.created_at, w.id;

-- name: set_active
UPDATE webhooks SET is_active = %(active)s WHERE id = %(id)s
RETURNING id, url, events, description, is_active, created_at;

-- name: delete
DELETE FROM webhooks WHERE id = %(id)s RETURNING id;

-- name: enqueue
SELECT webhook_enqueue_v1(%(event)s, %(payload)s) AS event_id;

-- name: claim
-- Take up to `limit` due deliveries for this worker: rows another worker is claiming right now
-- are skipped, and each claimed row is leased (its next attempt moved past the lease) so that
-- it comes back by itself if this worker dies before recording the outcome.
WITH due AS (
    SELECT d.id
      FROM webhook_deliveries d
      JOIN webhooks w ON w.id = d.webhook_id AND w.is_active
     WHERE d.status = 'pending' AND d.next_attempt_at <= clock_timestamp()
     ORDER BY d.next_attempt_at, d.id
     LIMIT %(limit)s
       FOR UPDATE OF d SKIP LOCKED
)
UPDATE webhook_deliveries d
   SET attempts = d.attempts + 1,
       next_attempt_at = clock_timestamp() + make_interval(secs => %(lease_seconds)s)
  FROM due, webhook_events e, webhooks w
 WHERE d.id = due.id AND e.id = d.event_id AND w.id = d.webhook_id
RETURNING d.id, d.attempts, d.event_id, e.event, e.payload, e.created_at AS event_created_at,
          w.id AS webhook_id, w.url, w.secret;

-- name: record_attempt
INSERT INTO webhook_attempts (delivery_id, attempt, started_at, duration_ms, status_code, error,
                              response_body)
VALUES (%(delivery_id)s, %(attempt)s, %(started_at)s, %(duration_ms)s, %(status_code)s,
        %(error)s, %(response_body)s);

-- name: delivered
UPDATE webhook_deliveries
   SET status = 'delivered', delivered_at = clock_timestamp(), last_status_code = %(status_code)s,
       last_error = NULL
 WHERE id = %(id)s AND status = 'pending' AND attempts = %(attempt)s;

-- name: retry_later
-- A failed attempt: try again after the backoff, or give up after the last attempt.
UPDATE webhook_deliveries
   SET status = CASE WHEN %(give_up)s THEN 'failed' ELSE 'pending' END,
       next_attempt_at = clock_timestamp() + make_interval(secs => %(delay_seconds)s),
       last_status_code = %(status_code)s, last_error = %(error)s
 WHERE id = %(id)s AND status = 'pending' AND attempts = %(attempt)s;

-- name: deliveries
SELECT d.id, d.event_id, e.event, d.webhook_id, d.status, d.attempts, d.next_attempt_at,
       d.last_status_code, d.last_error, d.delivered_at, d.created_at,
       coalesce((SELECT jsonb_agg(jsonb_build_object(
                    'attempt', a.attempt, 'started_at', a.started_at,
                    'duration_ms', a.duration_ms, 'status_code', a.status_code,
                    'error', a.error) ORDER BY a.attempt)
                   FROM webhook_attempts a WHERE a.delivery_id = d.id), '[]'::jsonb) AS log
  FROM webhook_deliveries d
  JOIN webhook_events e ON e.id = d.event_id
 WHERE (%(webhook_id)s::uuid IS NULL OR d.webhook_id = %(webhook_id)s)
   AND (%(status)s::text IS NULL OR d.status = %(status)s)
 ORDER BY d.id DESC
 LIMIT %(limit)s;

-- name: redeliver
UPDATE webhook_deliveries
   SET status = 'pending', next_attempt_at = clock_timestamp(), attempts = 0
 WHERE id = %(id)s AND status = 'failed'
RETURNING id;
