-- The exact row count of one table. $table_name (a name from schema_tables.sql)
with final as (
    select count(*) as n_rows from query_table($table_name)
)

select * from final
