-- Privacy erasure (DELETE /v1/users/me): the row is kept (its id stays a
-- valid reference) but anonymised; erased_at marks it so reads treat it as gone.
ALTER TABLE users ADD COLUMN erased_at datetime;
