-- Run manifest
-- Facts about this file (schema version, build time, code version, config) and every model run.
with facts as (
    select key, value from meta
),

runs_shape as (
    select 'run ' || run_id as key,
           model_name || ', ' || n_layers || ' layers x ' || hidden_size || ' units, poolings '
           || array_to_string(poolings, '/') as value
    from runs
),

final as (
    select * from facts
    union all
    select * from runs_shape
    order by key
)

select * from final
