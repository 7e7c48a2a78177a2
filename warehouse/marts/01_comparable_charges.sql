-- comparable_charges: every standard charge of the current files, with its canonical payer
-- and plan type, one comparable dollar figure, the basis of that figure, and the reason it
-- must not be compared (NULL when it may). Nothing is dropped: exclusion is a column.
--
-- Basis, first that applies:
--   negotiated_dollar        the negotiated dollar amount;
--   derived_from_percentage  gross charge × percentage, only for the methodology
--                            'percent of total billed charges' (the percentage then applies
--                            to the item's own gross charge);
--   median_allowed           the median allowed amount (percentage or algorithm rates);
--   none                     no dollar figure can be had.
-- Drugs (a drug unit, a unit type or an NDC code) are priced per unit: the amount divided
-- by drug_unit, grams (GR, GM) converted to milligrams, so 1 ML and 100 ML packs compare.
-- price_unit is part of every comparison's group key: a drug's unit (MG, ML, UN …); 'day'
-- for a payer rate whose methodology is 'per diem' (a price per day of a stay, never
-- compared with a price per stay or case); NULL for a price of the whole service.
CREATE OR REPLACE VIEW comparable_charges AS
WITH priced AS (
    SELECT
        c.*,
        m.payer,
        m.plan_type,
        coalesce(m.payer_matched, false) AS payer_matched,
        (c.drug_unit IS NOT NULL OR c.drug_unit_type IS NOT NULL
            OR list_contains(list_transform(c.codes, lambda x: x.type), 'NDC')) AS is_drug,
        CASE c.drug_unit_type
            WHEN 'GR' THEN 1000.0 WHEN 'GM' THEN 1000.0 WHEN 'ME' THEN 1.0 WHEN 'ML' THEN 1.0
            WHEN 'UN' THEN 1.0 WHEN 'F2' THEN 1.0 WHEN 'EA' THEN 1.0
        END AS unit_factor,
        CASE
            WHEN c.negotiated_dollar IS NOT NULL THEN 'negotiated_dollar'
            WHEN c.negotiated_percentage IS NOT NULL AND c.gross_charge IS NOT NULL
                AND c.methodology = 'percent of total billed charges'
                THEN 'derived_from_percentage'
            WHEN c.median_allowed IS NOT NULL THEN 'median_allowed'
            ELSE 'none'
        END AS price_basis
    FROM standard_charges c
    LEFT JOIN payer_map m
        ON m.file_id = c.file_id
        AND m.payer_name IS NOT DISTINCT FROM c.payer_name
        AND m.plan_name IS NOT DISTINCT FROM c.plan_name
),
amounts AS (
    SELECT
        *,
        CASE price_basis
            WHEN 'negotiated_dollar' THEN negotiated_dollar
            WHEN 'derived_from_percentage' THEN round(gross_charge * negotiated_percentage / 100, 2)
            WHEN 'median_allowed' THEN median_allowed
        END AS amount,
        CASE
            WHEN NOT is_drug THEN 1.0
            WHEN drug_unit > 0 AND unit_factor IS NOT NULL THEN drug_unit * unit_factor
        END AS unit_divisor
    FROM priced
)
SELECT
    * EXCLUDE (is_drug, unit_factor, amount, unit_divisor),
    amount / unit_divisor AS comparable_dollar,
    CASE
        WHEN is_drug AND unit_divisor IS NOT NULL THEN
            CASE WHEN drug_unit_type IN ('GR', 'GM', 'ME') THEN 'MG' ELSE drug_unit_type END
        WHEN NOT is_drug AND methodology = 'per diem' THEN 'day'
    END AS price_unit,
    gross_charge / unit_divisor AS gross_per_unit,
    discounted_cash / unit_divisor AS cash_per_unit,
    CASE
        WHEN price_basis = 'none' AND payer_name IS NULL AND plan_name IS NULL
            THEN 'no_payer_rate'
        WHEN price_basis = 'none' AND negotiated_algorithm IS NOT NULL THEN 'algorithm_only'
        WHEN price_basis = 'none' AND negotiated_percentage IS NOT NULL
            THEN 'percentage_without_base'
        WHEN price_basis = 'none' THEN 'no_price'
        -- Nines fill "unknown" in many chargemasters (the normaliser already nulls 999999999).
        WHEN amount >= 99999999 OR amount IN (99999, 99999.99, 999999, 999999.99, 9999999,
            9999999.99) THEN 'placeholder'
        WHEN amount <= 0.01 THEN 'zero_or_penny'
        WHEN unit_divisor IS NULL THEN 'drug_unit_not_normalisable'
    END AS exclusion_reason
FROM amounts;
