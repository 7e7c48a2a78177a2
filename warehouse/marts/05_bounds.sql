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
-- bin_middles (registered by `warehouse.marts._bounds`): per group with at least 5 rates,
-- its rates (total), twice its median in bins (median2: the middle positions' bins, summed)
-- and four times its MAD in bins (mad4: the middle positions' doubled distances to the
-- median, summed), found in two sorts of the groups' bins.
SELECT
    m.k, g.code_type, g.code, g.setting, g.price_unit,
    m.total AS rates,
    exp(m.median2 / 200.0) AS median_dollar,
    exp(m.median2 / 200.0 - greatest(4 * 1.4826 * (m.mad4 / 400.0), ln(10))) AS lower_dollar,
    exp(m.median2 / 200.0 + greatest(4 * 1.4826 * (m.mad4 / 400.0), ln(10))) AS upper_dollar
FROM bin_middles m JOIN mart_keys g USING (k);
