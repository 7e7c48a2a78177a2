-- The catalog's payer map holds each folded file's own map (its file_id): a name such as
-- "BCBS" maps to the Blue company of the file's state, so one spelling can map differently
-- at two hospitals. comparable_charges joins a charge to its own file's map. The marts'
-- rules signature changed with this, so the next publish derives and folds every file again.
ALTER TABLE payer_map ADD COLUMN IF NOT EXISTS file_id VARCHAR;
DELETE FROM payer_map;
