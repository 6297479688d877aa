-- Every sentence's score along a direction (a one-hot direction gives a neuron's activation exactly).
-- $run_id, $layer, $pooling, $direction (float[], hidden_size values), $datasets (varchar[])
with final as (
    select dataset, sentence_id, list_inner_product(vec, $direction::float[]) as value
    from activations
    where run_id = $run_id and layer = $layer and pooling = $pooling and list_contains($datasets, dataset)
)

select * from final
