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
    SELECT v.k, v.bin / 100.0 AS lp, v.n
    FROM mart_price_bins v SEMI JOIN affected_keys a ON a.k = v.k
),
totals AS (
    SELECT k, sum(n)::BIGINT AS total FROM bins GROUP BY k HAVING sum(n) >= 5
),
ranked AS (
    SELECT b.k, b.lp, b.n, t.total,
           sum(b.n) OVER (PARTITION BY b.k ORDER BY b.lp ROWS UNBOUNDED PRECEDING) AS upto
    FROM bins b JOIN totals t USING (k)
),
medians AS (
    SELECT k, any_value(total) AS total,
           (max(lp) FILTER (upto - n < (total - 1) // 2 + 1 AND (total - 1) // 2 + 1 <= upto)
            + max(lp) FILTER (upto - n < total // 2 + 1 AND total // 2 + 1 <= upto)) / 2
               AS log_median
    FROM ranked GROUP BY k
),
deviations AS (
    SELECT b.k, abs(b.lp - m.log_median) AS d, b.n, m.total,
           sum(b.n) OVER (PARTITION BY b.k ORDER BY abs(b.lp - m.log_median)
                          ROWS UNBOUNDED PRECEDING) AS upto
    FROM bins b JOIN medians m USING (k)
),
mads AS (
    SELECT k,
           (max(d) FILTER (upto - n < (total - 1) // 2 + 1 AND (total - 1) // 2 + 1 <= upto)
            + max(d) FILTER (upto - n < total // 2 + 1 AND total // 2 + 1 <= upto)) / 2
               AS log_mad
    FROM deviations GROUP BY k
)
SELECT
    m.k, g.code_type, g.code, g.setting, g.price_unit,
    m.total AS rates,
    exp(m.log_median) AS median_dollar,
    exp(m.log_median - greatest(4 * 1.4826 * d.log_mad, ln(10))) AS lower_dollar,
    exp(m.log_median + greatest(4 * 1.4826 * d.log_mad, ln(10))) AS upper_dollar
FROM medians m JOIN mads d USING (k) JOIN mart_keys g USING (k);
