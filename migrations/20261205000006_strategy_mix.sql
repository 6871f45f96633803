-- How a project splits each round's new pairs between the selection strategies, as relative
-- weights: {"exemplar": 0.7, "margin": 0.1, ...}. NULL: the default mix.
ALTER TABLE projects ADD COLUMN strategy_mix JSONB;
