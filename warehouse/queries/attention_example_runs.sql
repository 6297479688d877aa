-- The transformer runs (whose attention the per-example view draws), with how many items have stored weights.
with stored as (
    select run_id, count(*) as n_examples
    from attention_examples
    group by run_id
),

final as (
    select r.run_id, r.model_name, r.n_layers - 1 as n_blocks, r.n_heads, coalesce(s.n_examples, 0) as n_examples
    from runs r
    left join stored s using (run_id)
    where r.model_kind = 'transformer'
    order by r.run_id
)

select * from final
