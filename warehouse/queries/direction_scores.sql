-- Every sentence's score along a direction (a one-hot direction gives a neuron's activation exactly).
-- Read from activation_store: the dot product with the int16 codes times the row's scale (the same number as
-- with the decoded vector, without decoding it), or with the float32 values.
-- $run_id, $layer, $pooling, $direction (float[], hidden_size values), $datasets (varchar[])
with final as (
    select dataset, sentence_id,
           coalesce(list_inner_product(floats, $direction::float[]),
                    list_inner_product(codes::float[], $direction::float[]) * scale) as value
    from activation_store
    where run_id = $run_id and layer = $layer and pooling = $pooling and list_contains($datasets, dataset)
)

select * from final
