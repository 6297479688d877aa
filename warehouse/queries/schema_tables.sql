-- Every table of the warehouse with its column count and description (the COMMENT of the schema files).
-- Run on a connection whose default database is the warehouse; row counts come from table_rows.sql.
with tables as (
    select table_name, column_count, comment
    from duckdb_tables()
    where database_name = current_database() and schema_name = 'main' and not internal
),

final as (
    select table_name, column_count as columns, comment from tables order by table_name
)

select * from final
