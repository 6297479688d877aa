-- The stored sentences of a run with their units and character offsets, in block order. $run_id
with final as (
    select u.dataset, u.sentence_id, u.n_units, u.units, u.starts, u.ends, s.text,
           coalesce(l.truncated, false) as truncated
    from token_units u
    join sentences s using (dataset, sentence_id)
    left join sentence_lengths l on l.run_id = u.run_id and l.dataset = u.dataset and l.sentence_id = u.sentence_id
    where u.run_id = $run_id
    order by u.dataset, u.sentence_id
)

select * from final
