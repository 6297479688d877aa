-- The regression heads of one run (the study's Table 3). $run_id
with final as (
    select dataset, head, mode, layer, n_train, n_test, pearson, spearman, mse, seconds, encode_seconds
    from attention_heads
    where run_id = $run_id
    order by dataset, mode, case head when 'cls' then 0 when 'mean' then 1 when 'max' then 2 else 3 end
)

select * from final
