-- The runs with attention results, with their model and block count.
with attention_runs as (
    select distinct run_id from attention_layers
),

final as (
    select r.run_id, r.model_name, r.n_layers, r.n_heads
    from runs r
    join attention_runs a using (run_id)
    order by r.run_id
)

select * from final
