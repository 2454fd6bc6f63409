-- Claims an event for this view; no row back means it was applied before.
INSERT INTO {schema}.tier_applied_events (event_id, position) VALUES ($1, $2)
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
