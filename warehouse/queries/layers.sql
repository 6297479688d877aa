-- The layers of one run. $run_id
with final as (
    select layer, name from layers where run_id = $run_id order by layer
)

select * from final
