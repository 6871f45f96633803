-- The loss a project's rounds train with, spelled as the trainer names it. NULL: the
-- trainer's default.
ALTER TABLE projects
    ADD COLUMN loss TEXT CHECK (loss IN ('vicreg', 'simclr', 'barlow', 'spectral'));
