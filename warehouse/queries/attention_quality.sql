-- Every scored clustering of one run and dataset (all layers, both feature sets). $run_id $dataset
with final as (
    select layer, feature_set, algorithm, params, k, n_points, n_clusters, n_noise, silhouette, davies_bouldin,
           calinski_harabasz, rank, chosen
    from attention_quality
    where run_id = $run_id and dataset = $dataset
    order by layer, feature_set desc, rank nulls last, algorithm, params, k
)

select * from final
