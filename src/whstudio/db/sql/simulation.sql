-- name: realtime_choices
-- The real-time consensus of every task, as the canonical choice, for the simulated crowd's report.
SELECT task_id, final_answer ->> 'chosen_response' AS choice FROM response_consensus;
