-- The name of every table of the warehouse (main schema), for pages whose study may not have been built.
with tables as (
    select table_name
    from duckdb_tables()
    where database_name = current_database() and schema_name = 'main' and not internal
),

final as (
    select table_name from tables order by table_name
)

select * from final
