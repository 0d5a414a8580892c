-- name: newest
SELECT source_dataset, version, body, criteria, created_at
  FROM dataset_guidelines
 WHERE source_dataset = %(dataset)s
 ORDER BY version DESC
 LIMIT 1;

-- name: version
SELECT source_dataset, version, body, criteria, created_at
  FROM dataset_guidelines
 WHERE source_dataset = %(dataset)s AND version = %(version)s;

-- name: versions
-- Every version of a dataset's guidelines, newest first, with who wrote it (no bodies).
SELECT g.version, g.criteria, length(g.body) AS body_chars, u.username AS created_by,
       g.created_at
  FROM dataset_guidelines g
  LEFT JOIN users u ON u.id = g.created_by
 WHERE g.source_dataset = %(dataset)s
 ORDER BY g.version DESC;

-- name: lock
-- Publishers of one dataset's guidelines wait for each other until the transaction ends, so
-- versions never collide (taken before reading the newest version).
SELECT pg_advisory_xact_lock(hashtextextended('whstudio:guidelines:' || %(dataset)s, 0));

-- name: publish
INSERT INTO dataset_guidelines (source_dataset, version, body, criteria, created_by)
VALUES (%(dataset)s,
        coalesce((SELECT max(version) FROM dataset_guidelines
                   WHERE source_dataset = %(dataset)s), 0) + 1,
        %(body)s, %(criteria)s, %(created_by)s)
RETURNING source_dataset, version, body, criteria, created_at;

-- name: set_reasons
-- The criteria an annotator ticked, when every one is among those of the guidelines the answer
-- was given under; no row when one is not.
UPDATE submissions s SET reasons = %(reasons)s
 WHERE s.id = %(id)s
   AND %(reasons)s::text[] <@ coalesce(
        (SELECT g.criteria FROM dataset_guidelines g
           JOIN questions q ON q.source_dataset = g.source_dataset
          WHERE q.id = s.question_id AND g.version = s.guidelines_version), '{}')
RETURNING s.id;
