-- The checkpoint of one named consumer, if any.
SELECT position FROM {schema}.checkpoints WHERE name = $1
