-- Drift, item by item, between a baseline window [baseline_start, baseline_end) and a current window
-- [current_start, current_end): numeric items (drift_numeric: PSI over the baseline's deciles and the
-- two-sample Kolmogorov-Smirnov test) and category items (drift_categories' counts: PSI over the
-- categories and a chi-squared test of the 2 x k table), each with a plain verdict. The verdict needs
-- both the size and the evidence: shifted is PSI >= 0.25 with p < alpha (0.01: drift.ALPHA), moderate
-- shift PSI >= 0.1 with p < alpha, else stable; fewer than min_samples in either window is insufficient data. On a large
-- sample a trivial difference is "significant", which is why significance alone is never drift.
-- The chi-squared p-value uses the Wilson-Hilferty approximation (good to about two digits, enough to
-- tell p < 0.01 from p > 0.05). An item's summaries: the median (numeric) or the top three categories.
SELECT item, kind, baseline_n, current_n, baseline_median, current_median, baseline_top, current_top,
    psi, statistic, pvalue,
    multiIf(least(baseline_n, current_n) < {min_samples:UInt32} OR isNaN(psi) OR isNaN(pvalue), 'insufficient data',
            pvalue < {alpha:Float64} AND psi >= 0.25, 'shifted',
            pvalue < {alpha:Float64} AND psi >= 0.1, 'moderate shift',
            'stable') AS verdict
FROM (
    SELECT item, 'numeric' AS kind, baseline_n, current_n, baseline_median, current_median,
        '' AS baseline_top, '' AS current_top, psi, ks_statistic AS statistic, ks_pvalue AS pvalue
    FROM ({{include(drift_numeric)}})
    UNION ALL
    SELECT item, 'category' AS kind, bt AS baseline_n, ct AS current_n, nan AS baseline_median, nan AS current_median,
        if(bt = 0, '-', arrayStringConcat(arrayMap(x -> concat(x.1, ' ', toString(toUInt32(round(100 * x.2 / bt))), '%'),
            arraySlice(arraySort(x -> (-x.2, x.1), pairs_b), 1, 3)), ', ')) AS baseline_top,
        if(ct = 0, '-', arrayStringConcat(arrayMap(x -> concat(x.1, ' ', toString(toUInt32(round(100 * x.2 / ct))), '%'),
            arraySlice(arraySort(x -> (-x.2, x.1), pairs_c), 1, 3)), ', ')) AS current_top,
        if(bt > 0 AND ct > 0, psi_sum, nan) AS psi,
        if(bt > 0 AND ct > 0, chi2, nan) AS statistic,
        multiIf(bt = 0 OR ct = 0, nan, dof <= 0, 1.,
                0.5 * erfc(((cbrt(chi2 / dof) - (1 - 2 / (9 * dof))) / sqrt(2 / (9 * dof))) / sqrt(2))) AS pvalue
    FROM (
        -- per item: each category's share in either window (0.0001 floor, so ln() stays finite) and
        -- its part of the chi-squared statistic, observed against expected under "no change"
        SELECT item, bt, ct, toInt64(count()) - 1 AS dof,
            groupArray((category, baseline)) AS pairs_b, groupArray((category, current)) AS pairs_c,
            sum((greatest(current / ct, 0.0001) - greatest(baseline / bt, 0.0001))
                * ln(greatest(current / ct, 0.0001) / greatest(baseline / bt, 0.0001))) AS psi_sum,
            sum(pow(baseline - bt * (baseline + current) / (bt + ct), 2) / (bt * (baseline + current) / (bt + ct))
                + pow(current - ct * (baseline + current) / (bt + ct), 2) / (ct * (baseline + current) / (bt + ct)))
                AS chi2
        FROM (
            SELECT item, category, baseline, current,
                sum(baseline) OVER (PARTITION BY item) AS bt, sum(current) OVER (PARTITION BY item) AS ct
            FROM ({{include(drift_categories)}})
        )
        GROUP BY item, bt, ct
    )
)
ORDER BY item
