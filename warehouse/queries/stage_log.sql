-- How the warehouse was built: each stage, what it ran on, how long it took.
with final as (
    select stage, key, finished_at, round(seconds, 2) as seconds, rows from stage_log order by key
)

select * from final
