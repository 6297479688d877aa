-- The tokens of the stored monotonicity view (those min_count+ times in each listed dataset). $run_id, $min_count
with final as (
    select datasets, tokens
    from monotonic_tokens
    where run_id = $run_id and min_count = $min_count
)

select * from final
