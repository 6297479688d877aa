-- The random directions' consistency of one layer's stored null, by direction. $run_id, $layer, $pooling, $k,
-- $null_kind
with final as (
    select direction, consistency
    from illusion_null
    where run_id = $run_id and layer = $layer and pooling = $pooling and k = $k and null_kind = $null_kind
    order by direction
)

select * from final
