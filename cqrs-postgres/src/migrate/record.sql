-- Records one applied migration, in the same transaction as its DDL.
INSERT INTO {schema}.cqrs_migrations (version, description) VALUES ($1, $2)
