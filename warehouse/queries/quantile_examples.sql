-- One unit's stored quantile sample on the chosen datasets, with the sentences' texts (the transfer page).
-- $run_id, $layer, $pooling, $unit (0-based), $datasets (varchar[])
with sample as (
    select dataset, quantile, heldout, sentence_id, value
    from quantile_examples
    where run_id = $run_id and layer = $layer and pooling = $pooling and unit = $unit
        and list_contains($datasets, dataset)
),

final as (
    select sample.dataset, sample.quantile, sample.heldout, sample.sentence_id, sample.value, s.text
    from sample
    join sentences s using (dataset, sentence_id)
    order by sample.dataset, sample.quantile desc, sample.value desc
)

select * from final
