-- Counts a round's answered pairs quickly: auto-advance checks it after every answer.
CREATE INDEX queries_by_round ON queries (round_id, state);
