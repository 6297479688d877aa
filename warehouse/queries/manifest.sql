-- The run manifest: every fact in meta.
with final as (
    select key, value from meta order by key
)

select * from final
