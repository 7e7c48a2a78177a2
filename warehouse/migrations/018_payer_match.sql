-- How each published payer name found its canonical payer (transform/payers.py,
-- docs/payers.md): 'exact' (an alias of the registry) or 'fuzzy' (a near miss above the
-- documented threshold), NULL when unmatched; the score is 100 when exact. An analyst
-- who wants certainty filters to `match_method = 'exact'`. Added after the existing
-- columns, as the per-file payer maps (stage version 4) write them.

ALTER TABLE payer_map ADD COLUMN IF NOT EXISTS match_method VARCHAR;
ALTER TABLE payer_map ADD COLUMN IF NOT EXISTS match_score DOUBLE;
