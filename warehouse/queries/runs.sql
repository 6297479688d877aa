-- Every model run with its shape.
with final as (
    select run_id, model_kind, model_name, model_path, n_layers, hidden_size, n_heads, max_length,
           poolings, code_version, built_at
    from runs
    order by run_id
)

select * from final
