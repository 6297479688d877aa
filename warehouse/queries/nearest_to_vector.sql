-- The k sentences nearest to a given vector (e.g. a typed-in text run through the run's model) by cosine
-- similarity, per dataset, in one run, layer and pooling. Ties go to the lower sentence_id; sentences whose
-- similarity is undefined (a zero vector) are left out.
-- Cosine similarity ignores a row's scale, so the int16 codes are compared as they are (activation_store).
-- $run_id, $layer, $pooling, $vector (float[], hidden_size values), $k, $datasets (varchar[])
with scored as (
    select dataset, sentence_id, list_cosine_similarity(coalesce(floats, codes::float[]), $vector::float[]) as similarity
    from activation_store
    where run_id = $run_id and layer = $layer and pooling = $pooling and list_contains($datasets, dataset)
),

valid as (
    select * from scored where not isnan(similarity)
),

-- each dataset's k-th highest similarity: only the rows at or above it (the k, plus any tied with the k-th)
-- go through the window, instead of every row of the dataset
cutoffs as (
    select dataset, list_last(max(similarity, $k)) as cutoff
    from valid
    group by dataset
),

ranked as (
    select v.dataset, v.sentence_id, v.similarity,
           row_number() over (partition by v.dataset order by v.similarity desc, v.sentence_id) as rank
    from valid v
    join cutoffs c on v.dataset = c.dataset and v.similarity >= c.cutoff
    qualify rank <= $k
),

final as (
    select r.dataset, r.rank, r.sentence_id, r.similarity, s.text
    from ranked r
    join sentences s using (dataset, sentence_id)
    order by r.dataset, r.rank
)

select * from final
