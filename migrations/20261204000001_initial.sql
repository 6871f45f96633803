-- Akin's first schema: projects, items, rounds, models, queries and the append-only answer log.

CREATE TABLE projects (
    id            BIGSERIAL PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$'),
    channels      INT NOT NULL CHECK (channels IN (1, 3)),
    image_size    INT NOT NULL CHECK (image_size BETWEEN 8 AND 256),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One image. `pixels` is the training copy (channels x image_size x image_size, u8);
-- the original and the display copy live in the content-addressed store under `content_hash`.
CREATE TABLE items (
    id            BIGSERIAL PRIMARY KEY,
    project_id    BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    content_hash  TEXT NOT NULL,
    width         INT NOT NULL,
    height        INT NOT NULL,
    label         INT,
    pixels        BYTEA NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (project_id, name)
);

CREATE TABLE rounds (
    id            BIGSERIAL PRIMARY KEY,
    project_id    BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    number        INT NOT NULL,
    state         TEXT NOT NULL
                  CHECK (state IN ('queued', 'training', 'selecting', 'open', 'failed')),
    reason        TEXT,
    progress      REAL NOT NULL DEFAULT 0,
    metrics       JSONB NOT NULL DEFAULT '{}',
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at    TIMESTAMPTZ,
    finished_at   TIMESTAMPTZ,
    UNIQUE (project_id, number)
);

-- Only one round per project may be queued, training or selecting at a time.
CREATE UNIQUE INDEX rounds_one_active_per_project
    ON rounds (project_id) WHERE state IN ('queued', 'training', 'selecting');

CREATE TABLE models (
    id               BIGSERIAL PRIMARY KEY,
    project_id       BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    round_id         BIGINT NOT NULL REFERENCES rounds (id) ON DELETE CASCADE,
    checkpoint_path  TEXT NOT NULL,
    dim              INT NOT NULL CHECK (dim > 0),
    final_loss       DOUBLE PRECISION NOT NULL,
    device           TEXT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One row per item and model: the item's embedding as little-endian f32.
CREATE TABLE embeddings (
    model_id      BIGINT NOT NULL REFERENCES models (id) ON DELETE CASCADE,
    item_id       BIGINT NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    vector        BYTEA NOT NULL,
    PRIMARY KEY (model_id, item_id)
);

-- A pair to ask. `item_a < item_b` always, and a pair is asked at most once per project.
CREATE TABLE queries (
    id                BIGSERIAL PRIMARY KEY,
    project_id        BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    round_id          BIGINT NOT NULL REFERENCES rounds (id) ON DELETE CASCADE,
    model_id          BIGINT REFERENCES models (id) ON DELETE SET NULL,
    item_a            BIGINT NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    item_b            BIGINT NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    strategy          TEXT NOT NULL,
    score             REAL NOT NULL,
    state             TEXT NOT NULL DEFAULT 'pending'
                      CHECK (state IN ('pending', 'answered', 'retired')),
    leased_by         TEXT,
    lease_expires_at  TIMESTAMPTZ,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (item_a < item_b),
    UNIQUE (project_id, item_a, item_b)
);

CREATE INDEX queries_pending ON queries (project_id, id) WHERE state = 'pending';

-- The append-only answer log: the graph is always derived from it.
CREATE TABLE answers (
    id               BIGSERIAL PRIMARY KEY,
    project_id       BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    query_id         BIGINT NOT NULL REFERENCES queries (id) ON DELETE CASCADE,
    item_a           BIGINT NOT NULL,
    item_b           BIGINT NOT NULL,
    verdict          TEXT NOT NULL CHECK (verdict IN ('same', 'different', 'not_sure')),
    annotator        TEXT NOT NULL,
    idempotency_key  TEXT NOT NULL UNIQUE,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX answers_by_project ON answers (project_id, id);
