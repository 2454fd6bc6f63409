-- Versions already applied to this schema.
SELECT version FROM {schema}.cqrs_migrations ORDER BY version
