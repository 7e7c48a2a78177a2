-- code_price_bounds for the groups in temp table affected_keys (k; their text is in
-- mart_keys): the robust band of ordinary prices per code, setting and unit, from the log
-- prices of every comparable payer rate of every current facility (at least 5 rates). A rate outside median ÷ f … median × f
-- is an outlier, where f = max(10, exp(4 × 1.4826 × MAD)): more than four robust standard
-- deviations *and* more than tenfold away from the median, so the ordinary 3–5× spread
-- between hospitals is never called an outlier.
--
-- The prices are kept as counts per 1 %-wide bin of log price (mart_price_bins: bin =
-- round(100 × ln(dollar))), summed over files: a file's counts fold in and out without
-- reading any other file, and a group's band is computed from its bins alone, however many
-- facilities price it. The median and the median absolute deviation are those of the bin
-- values (the middle positions, averaged when the count is even, as median() does): within
-- 1 % of the exact ones, for a band at least tenfold wide.
DELETE FROM code_price_bounds WHERE k IN (SELECT k FROM affected_keys);

INSERT INTO code_price_bounds
WITH bins AS (
    SELECT v.k, v.bin, v.n
    FROM mart_price_bins v SEMI JOIN affected_keys a ON a.k = v.k
),
-- Running counts in one sort of all the groups' bins (a window partitioned by group
-- is several times slower over a million bins), made per group by taking away what the
-- groups before held.
ordered AS (
    SELECT k, bin, n, sum(n) OVER (ORDER BY k, bin ROWS UNBOUNDED PRECEDING) AS upto
    FROM bins
),
ranked AS (
    SELECT o.k, o.bin, o.n, o.upto - s.before AS upto, s.total
    FROM ordered o JOIN (
        SELECT k, min(upto - n) AS before, sum(n)::BIGINT AS total FROM ordered GROUP BY k HAVING sum(n) >= 5
    ) s USING (k)
),
medians AS (  -- twice the median, in bins: the middle positions' bins, summed
    SELECT k, any_value(total) AS total,
           max(bin) FILTER (upto - n < (total - 1) // 2 + 1 AND (total - 1) // 2 + 1 <= upto)
            + max(bin) FILTER (upto - n < total // 2 + 1 AND total // 2 + 1 <= upto) AS median2
    FROM ranked GROUP BY k
),
deviations AS (  -- twice each bin's distance to the median, in bins
    SELECT b.k, abs(2 * b.bin - m.median2) AS d2, b.n, m.total
    FROM bins b JOIN medians m USING (k)
),
dordered AS (
    SELECT k, d2, n, total, sum(n) OVER (ORDER BY k, d2 ROWS UNBOUNDED PRECEDING) AS upto
    FROM deviations
),
dranked AS (
    SELECT o.k, o.d2, o.n, o.total, o.upto - s.before AS upto
    FROM dordered o JOIN (SELECT k, min(upto - n) AS before FROM dordered GROUP BY k) s USING (k)
),
mads AS (
    SELECT k,
           (max(d2) FILTER (upto - n < (total - 1) // 2 + 1 AND (total - 1) // 2 + 1 <= upto)
            + max(d2) FILTER (upto - n < total // 2 + 1 AND total // 2 + 1 <= upto)) / 400.0
               AS log_mad
    FROM dranked GROUP BY k
)
SELECT
    m.k, g.code_type, g.code, g.setting, g.price_unit,
    m.total AS rates,
    exp(m.median2 / 200.0) AS median_dollar,
    exp(m.median2 / 200.0 - greatest(4 * 1.4826 * d.log_mad, ln(10))) AS lower_dollar,
    exp(m.median2 / 200.0 + greatest(4 * 1.4826 * d.log_mad, ln(10))) AS upper_dollar
FROM medians m JOIN mads d USING (k) JOIN mart_keys g USING (k);
