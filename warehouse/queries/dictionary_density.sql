-- One dictionary run's feature densities (share of tokens on which a feature is nonzero), per dataset and unit.
-- $run_id
with final as (
    select dataset, unit, n_active, n_tokens, density
    from dictionary_density
    where run_id = $run_id
    order by dataset, unit
)

select * from final
