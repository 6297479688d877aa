-- Every sentence vector of one layer and pooling in the chosen datasets, in (dataset, sentence_id) order, as
-- stored: the value of unit u (0-based) is vec[u + 1] * scale (int16 codes cast to float, exactly, and their
-- scale; float32 values and 1), which warehouse.queries.layer_matrix multiplies out in numpy.
-- $run_id, $layer, $pooling, $datasets (varchar[])
with final as (
    select dataset, sentence_id, coalesce(floats, codes::float[]) as vec, scale
    from activation_store
    where run_id = $run_id and layer = $layer and pooling = $pooling and list_contains($datasets, dataset)
    order by dataset, sentence_id
)

select * from final
