-- Per facility: how well its current file follows the CMS rules, as a 0–100 score.
-- Built on files (error/alert counts, last_updated_on, attestation) and finding_counts
-- (exact counts per rule). The formula is documented in docs/conformance.md
-- ("facility_compliance"); change both together.
--
--   valid        30  the file has no error-severity finding of any rule (the CMS verdict)
--   header       20  minus 5 for each distinct file-level rule broken (header.*, data.empty)
--   data         25  × (1 − min(1, 10 × row-level errors / rows)); row-level = every other
--                    error finding (value.*, rule.*, csv.*, schema.*, …), one by one
--   freshness    15  full up to 365 days since last_updated_on, linear to 0 at 730 days
--   attestation  10  the attestation/affirmation is answered true
--
-- A facility without a current file scores 0. Alerts do not lower the score.

CREATE OR REPLACE VIEW facility_compliance AS
WITH counts AS (
    SELECT
        file_id,
        map_from_entries(list(struct_pack(key := rule, value := finding_count) ORDER BY rule)
            FILTER (WHERE severity = 'error')) AS errors_by_rule,
        map_from_entries(list(struct_pack(key := rule, value := finding_count) ORDER BY rule)
            FILTER (WHERE severity = 'alert')) AS alerts_by_rule,
        count(*) FILTER (WHERE severity = 'error'
            AND (rule LIKE 'header.%' OR rule = 'data.empty')) AS file_rules_broken,
        coalesce(sum(finding_count) FILTER (WHERE severity = 'error'
            AND NOT (rule LIKE 'header.%' OR rule = 'data.empty')), 0) AS row_errors
    FROM finding_counts
    GROUP BY file_id
),
base AS (
    SELECT
        f.facility_id,
        coalesce(c.hospital_name, f.hospital_name) AS hospital_name,
        c.file_id,
        c.layout,
        c.version,
        c.loaded_at,
        c.row_count,
        c.last_updated_on,
        date_diff('day', c.last_updated_on, current_date) AS days_since_update,
        c.attestation,
        c.file_id IS NOT NULL AND c.error_count = 0 AS valid,
        c.error_count,
        c.alert_count,
        coalesce(k.errors_by_rule, MAP {}::MAP(VARCHAR, BIGINT)) AS errors_by_rule,
        coalesce(k.alerts_by_rule, MAP {}::MAP(VARCHAR, BIGINT)) AS alerts_by_rule,
        coalesce(k.file_rules_broken, 0) AS file_rules_broken,
        coalesce(k.row_errors, 0) AS row_errors
    FROM facilities f
    LEFT JOIN current_files c USING (facility_id)
    LEFT JOIN counts k ON k.file_id = c.file_id
),
scored AS (
    SELECT
        *,
        CASE WHEN file_id IS NULL THEN 0.0 WHEN valid THEN 30.0 ELSE 0.0 END::DOUBLE AS score_valid,
        CASE WHEN file_id IS NULL THEN 0.0
             ELSE greatest(0.0, 20.0 - 5.0 * file_rules_broken) END::DOUBLE AS score_header,
        CASE WHEN file_id IS NULL OR coalesce(row_count, 0) = 0 THEN 0.0
             ELSE 25.0 * (1.0 - least(1.0, 10.0 * row_errors / row_count)) END::DOUBLE AS score_data,
        CASE WHEN days_since_update IS NULL THEN 0.0
             WHEN days_since_update <= 365 THEN 15.0
             ELSE greatest(0.0, 15.0 * (730 - days_since_update) / 365.0) END::DOUBLE
            AS score_freshness,
        CASE WHEN attestation THEN 10.0 ELSE 0.0 END::DOUBLE AS score_attestation
    FROM base
)
SELECT
    *,
    round(score_valid + score_header + score_data + score_freshness + score_attestation, 1)
        AS compliance_score
FROM scored;
