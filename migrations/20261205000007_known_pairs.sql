-- Pairs whose answer an admin knows. They decide the graph, weigh how far each annotator is
-- trusted, and a share of each round plants them among the pairs asked. `item_a < item_b`.
CREATE TABLE known_pairs (
    id          BIGSERIAL PRIMARY KEY,
    project_id  BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    item_a      BIGINT NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    item_b      BIGINT NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    verdict     TEXT NOT NULL CHECK (verdict IN ('same', 'different')),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (item_a < item_b),
    UNIQUE (project_id, item_a, item_b)
);
