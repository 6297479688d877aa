-- Kruskal-Wallis and pairwise Mann-Whitney summaries per layer, feature set and covariate. $run_id $dataset
with final as (
    select layer, feature_set, covariate, n, n_clusters, kw_h, kw_p, eta2, mw_pairs, mw_significant, mw_min_p,
           mw_max_p
    from attention_tests
    where run_id = $run_id and dataset = $dataset
    order by feature_set desc, layer, covariate
)

select * from final
