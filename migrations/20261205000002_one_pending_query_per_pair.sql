-- A pair may be asked again (to settle a conflict, or to check a settled answer), so the
-- one-query-per-pair rule becomes "at most one pending query per pair": two annotators can
-- never hold two copies of one pair at the same time.
ALTER TABLE queries DROP CONSTRAINT queries_project_id_item_a_item_b_key;

CREATE UNIQUE INDEX queries_one_pending_per_pair
    ON queries (project_id, item_a, item_b) WHERE state = 'pending';
