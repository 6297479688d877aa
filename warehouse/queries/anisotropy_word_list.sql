-- Every sampled word of a run with the samples it is in (for the word lookup's suggestions). $run_id
with final as (
    select word, count(distinct dataset) as n_samples, max(n_contexts) as n_contexts
    from anisotropy_words
    where run_id = $run_id
    group by word
    order by word
)

select * from final
