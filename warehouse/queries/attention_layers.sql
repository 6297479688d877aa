-- Per layer and feature set of one run and dataset: the reduction and the stored consensus clustering. $run_id $dataset
with final as (
    select a.layer, l.name as layer_name, a.feature_set, a.n_items, a.ae_loss, a.ae_epochs, a.explained,
           a.algorithm, a.params, a.k, a.n_clusters, a.silhouette, a.davies_bouldin, a.calinski_harabasz,
           a.top_structure
    from attention_layers a
    join layers l using (run_id, layer)
    where a.run_id = $run_id and a.dataset = $dataset
    order by a.layer, a.feature_set desc
)

select * from final
