-- One unit's token-level extremes (token_topk): per dataset, the first $k sentences of the $side list, each
-- with its extreme token (the token is text[start:end]) and the text.
-- $run_id, $layer, $unit, $side (top | bottom), $datasets (varchar[]), $k
with ranked as (
    select
        dataset,
        unnest(range(1, len(sentence_ids) + 1)) as rank,
        unnest(sentence_ids) as sentence_id,
        unnest(positions) as position,
        unnest(starts) as token_start,
        unnest(ends) as token_end,
        unnest(vals) as value
    from token_topk
    where run_id = $run_id and layer = $layer and unit = $unit and side = $side
        and list_contains($datasets, dataset)
),

final as (
    select
        r.dataset, r.rank, r.sentence_id, r.value, r.position, r.token_start, r.token_end,
        substr(s.text, r.token_start + 1, r.token_end - r.token_start) as token, s.text
    from ranked as r
    inner join sentences as s using (dataset, sentence_id)
    where r.rank <= $k
    order by r.dataset, r.rank
)

select * from final
