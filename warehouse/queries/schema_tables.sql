-- Every table and view of the warehouse with its column count and description (the COMMENT of the schema
-- files). Run on a connection whose default database is the warehouse; row counts come from table_rows.sql.
with tables as (
    select table_name, column_count, comment
    from duckdb_tables()
    where database_name = current_database() and schema_name = 'main' and not internal
),

views as (
    select v.view_name as table_name, count(c.column_name) as column_count, any_value(v.comment) as comment
    from duckdb_views() v
    left join duckdb_columns() c
        on c.database_name = v.database_name and c.schema_name = v.schema_name and c.table_name = v.view_name
    where v.database_name = current_database() and v.schema_name = 'main' and not v.internal
    group by v.view_name
),

final as (
    select table_name, column_count as columns, comment from tables
    union all
    select table_name, column_count as columns, comment from views
    order by table_name
)

select * from final
