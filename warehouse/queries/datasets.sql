-- Every dataset with its size, label kind and mean length in the chosen run's units. $run_id
with lengths as (
    select dataset, avg(n_tokens) as mean_tokens, count(*) filter (where truncated) as n_truncated
    from sentence_lengths
    where run_id = $run_id
    group by dataset
),

final as (
    select d.dataset, d.description, d.source, d.path, d.label_kind, d.n_sentences, d.has_pairs,
           round(l.mean_tokens, 1) as mean_tokens, coalesce(l.n_truncated, 0) as n_truncated, d.loaded_at
    from datasets d
    left join lengths l using (dataset)
    order by d.dataset
)

select * from final
