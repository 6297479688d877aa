-- Every dictionary run with its provenance and the base run it reads (dictionaries), by run.
with final as (
    select run_id, base_run_id, layer, site, origin, kind, activation, path, d_in, n_features, k, seed,
           training_tokens, training_steps, explained_variance_heldout, poolings
    from dictionaries
    order by run_id
)

select * from final
