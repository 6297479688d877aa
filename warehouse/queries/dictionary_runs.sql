-- Every dictionary run with its provenance, the base run it reads and its fingerprint (dictionaries), by run.
with final as (
    select run_id, base_run_id, layer, site, origin, kind, activation, path, d_in, n_features, k, seed,
           training_tokens, training_steps, explained_variance_heldout, poolings, fingerprint
    from dictionaries
    order by run_id
)

select * from final
