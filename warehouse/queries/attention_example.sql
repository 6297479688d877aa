-- One item's stored attention (packed, see attention_examples), or no row. $run_id, $dataset, $sentence_id
with final as (
    select is_pair, n_layers, n_heads, n_tokens, tokens, dtype, scale, max_error, weights
    from attention_examples
    where run_id = $run_id and dataset = $dataset and sentence_id = $sentence_id
)

select * from final
