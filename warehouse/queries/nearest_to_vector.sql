-- The k sentences nearest to a given vector (e.g. a typed-in text run through the run's model) by cosine
-- similarity, per dataset, in one run, layer and pooling. Ties go to the lower sentence_id; sentences whose
-- similarity is undefined (a zero vector) are left out.
-- $run_id, $layer, $pooling, $vector (float[], hidden_size values), $k, $datasets (varchar[])
with scored as (
    select dataset, sentence_id, list_cosine_similarity(vec, $vector::float[]) as similarity
    from activations
    where run_id = $run_id and layer = $layer and pooling = $pooling and list_contains($datasets, dataset)
),

ranked as (
    select dataset, sentence_id, similarity,
           row_number() over (partition by dataset order by similarity desc, sentence_id) as rank
    from scored
    where not isnan(similarity)
    qualify rank <= $k
),

final as (
    select r.dataset, r.rank, r.sentence_id, r.similarity, s.text
    from ranked r
    join sentences s using (dataset, sentence_id)
    order by r.dataset, r.rank
)

select * from final
