-- name: insert
-- The content hash is unique: the same content is stored once, and a second insert returns nothing.
INSERT INTO questions (question_type, content, gold_standard, source_dataset, source_ref, metadata,
                       created_by)
VALUES (%(question_type)s, %(content)s, %(gold_standard)s, %(source_dataset)s, %(source_ref)s,
        %(metadata)s, %(created_by)s)
ON CONFLICT (content_hash) DO NOTHING
RETURNING id, lineage_id, version, question_type, content, gold_standard, source_dataset,
          source_ref, metadata, created_at;

-- name: by_content
SELECT id, lineage_id, version, question_type, content, gold_standard, source_dataset, source_ref,
       metadata, created_at
  FROM questions
 WHERE content_hash = question_content_hash(%(question_type)s, %(content)s);

-- name: add_conversation
-- A multi-turn question stored as text alone (before questions kept their messages) gains its
-- messages: the same prompt and options, now with `conversation`. Nothing when it has them, or
-- when the content with messages is stored already.
UPDATE questions
   SET content = %(content)s
 WHERE content_hash = question_content_hash(%(question_type)s, %(flat)s)
   AND NOT EXISTS (SELECT 1 FROM questions x
                    WHERE x.content_hash = question_content_hash(%(question_type)s, %(content)s));

-- name: count_by_dataset
SELECT source_dataset, count(*) AS questions FROM questions GROUP BY source_dataset ORDER BY 1;
