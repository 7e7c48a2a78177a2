-- A warehouse's own payer aliases (`hpt payers map`, kept in <catalog>-payer_aliases.csv)
-- are applied at the next publish: each build records a digest of the aliases in force
-- (NULL when none), and a build whose aliases differ from the last one's derives again
-- only the files whose payer map they change (docs/payers.md, "Review queue").

ALTER TABLE mart_builds ADD COLUMN IF NOT EXISTS local_aliases VARCHAR;
