-- A project may start its next round on its own once this share of the open round's pairs
-- is answered. NULL: only an admin starts rounds.
ALTER TABLE projects
    ADD COLUMN auto_advance_share REAL
        CHECK (auto_advance_share > 0 AND auto_advance_share <= 1);
