-- Finds the answers a pair already has, and who gave them: leasing skips the pairs an
-- annotator answered before, and the review API lists the answers of a pair.
CREATE INDEX answers_by_pair ON answers (project_id, item_a, item_b);
