-- Dataset separability per layer
-- Held-out accuracy of a linear SVM telling the datasets apart, against chance, for every run, layer
-- and pooling (try a line chart: x = layer, y = accuracy, colour = pooling).
with final as (
    select run_id, layer, pooling, accuracy, chance, accuracy - chance as above_chance, n_test
    from separability
    order by run_id, pooling, layer
)

select * from final
