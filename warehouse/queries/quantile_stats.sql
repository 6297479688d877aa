-- One unit's summary statistics per dataset (quantile_stats), for the transfer page.
-- $run_id, $layer, $pooling, $unit (0-based), $datasets (varchar[])
with final as (
    select dataset, n, mean, variance, skewness, kurtosis, threshold, n_active, density, kind, bounds
    from quantile_stats
    where run_id = $run_id and layer = $layer and pooling = $pooling and unit = $unit
        and list_contains($datasets, dataset)
    order by dataset
)

select * from final
