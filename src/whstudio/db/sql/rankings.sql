-- name: outcomes
-- Pairwise outcomes between the two models a task names (its own metadata, else its question's:
-- an imported item keeps its model pair on the task, since one question text may be shared by
-- several pairs that gave identical answers), grouped by how the
-- comparison went. basis 'answers': every latest answer that counts in consensus (a model
-- judge's only where its task counts them) is one comparison; 'consensus': each
-- task whose consensus was reached is one (its winner), and a task settled on "tie" counts as a
-- tie. Rows where both sides name the same model tell nothing and are left out.
WITH pairs AS (
    SELECT t.id AS task_id, m.meta ->> 'model_a' AS model_a, m.meta ->> 'model_b' AS model_b
      FROM tasks t
      JOIN questions q ON q.id = t.question_id
     CROSS JOIN LATERAL (SELECT q.metadata || t.metadata AS meta) AS m
     WHERE q.question_type = 'pairwise_ab'
       AND m.meta ->> 'model_a' <> ''
       AND m.meta ->> 'model_b' <> ''
       AND m.meta ->> 'model_a' <> m.meta ->> 'model_b'
       AND (%(dataset)s::text IS NULL OR q.source_dataset = %(dataset)s)
), votes AS (
    SELECT p.model_a, p.model_b, s.chosen_response AS outcome
      FROM pairs p
      JOIN submissions s ON s.task_id = p.task_id AND s.is_latest AND s.in_consensus
     WHERE %(basis)s = 'answers' AND s.chosen_response IS NOT NULL
    UNION ALL
    SELECT p.model_a, p.model_b,
           CASE WHEN c.consensus_reached THEN c.final_answer ->> 'chosen_response'
                ELSE 'tie' END
      FROM pairs p
      JOIN response_consensus c ON c.task_id = p.task_id
      JOIN tasks t ON t.id = p.task_id
     WHERE %(basis)s = 'consensus'
       AND (c.consensus_reached
            OR (c.count_tie > greatest(c.count_a, c.count_b)
                AND c.total_responses >= t.consensus_threshold
                AND c.agreement_percentage >= t.min_agreement_percentage))
)
SELECT model_a, model_b, outcome, count(*)::integer AS n
  FROM votes
 GROUP BY model_a, model_b, outcome
 ORDER BY model_a, model_b, outcome;
