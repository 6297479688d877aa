-- The feature sets of a run (which layers and poolings, how many units). $run_id
with final as (
    select feature, layers, layer_names, poolings, n_units, suite
    from sentiment_features
    where run_id = $run_id
    order by suite desc, feature
)

select * from final
