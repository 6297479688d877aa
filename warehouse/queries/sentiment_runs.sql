-- Runs that have sentiment results, with how many datasets were studied.
with studied as (
    select run_id, count(*) filter (where status = 'done') as n_done, count(*) as n_considered
    from sentiment_datasets
    group by run_id
),

final as (
    select r.run_id, r.model_kind, r.model_name, s.n_done, s.n_considered
    from runs r
    join studied s using (run_id)
    order by r.run_id
)

select * from final
