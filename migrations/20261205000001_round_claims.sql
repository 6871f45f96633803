-- Rounds become jobs that workers claim: which worker holds a round, when it last showed
-- signs of life, and how many times the round was started since it was queued or retried.
-- Every claim draws a new `claim_token`, which fences the holder's writes: a worker
-- presumed dead cannot write to a round that was queued again and claimed by another
-- (or by a restarted process of the same name). See akin_store::claims.
CREATE SEQUENCE round_claim_tokens;

ALTER TABLE rounds
    ADD COLUMN claimed_by    TEXT,
    ADD COLUMN claim_token   BIGINT,
    ADD COLUMN heartbeat_at  TIMESTAMPTZ,
    ADD COLUMN attempts      INT NOT NULL DEFAULT 0 CHECK (attempts >= 0);

CREATE INDEX rounds_queued ON rounds (created_at, id) WHERE state = 'queued';
