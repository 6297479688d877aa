-- Every chosen sentence's stored mean distance to the rest of its dataset (sentence_distances).
-- $run_id, $layer, $pooling, $datasets (varchar[])
with final as (
    select dataset, sentence_id, mean_distance
    from sentence_distances
    where run_id = $run_id and layer = $layer and pooling = $pooling and list_contains($datasets, dataset)
    order by dataset, sentence_id
)

select * from final
