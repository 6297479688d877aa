-- Top k sentences per dataset for an arbitrary direction: its dot product with every sentence vector.
-- Scored as direction_scores.sql scores (from activation_store, codes times scale).
-- $run_id, $layer, $pooling, $direction (float[], hidden_size values), $k, $datasets (varchar[])
with scored as (
    select dataset, sentence_id,
           coalesce(list_inner_product(floats, $direction::float[]),
                    list_inner_product(codes::float[], $direction::float[]) * scale) as value
    from activation_store
    where run_id = $run_id and layer = $layer and pooling = $pooling and list_contains($datasets, dataset)
),

ranked as (
    select dataset, unnest(max_by(sentence_id, value, $k)) as sentence_id
    from scored
    group by dataset
),

final as (
    select r.dataset, row_number() over (partition by r.dataset order by sc.value desc) as rank,
           r.sentence_id, sc.value, s.text
    from ranked r
    join scored sc using (dataset, sentence_id)
    join sentences s using (dataset, sentence_id)
    order by r.dataset, rank
)

select * from final
