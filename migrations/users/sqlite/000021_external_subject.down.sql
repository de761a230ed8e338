DROP INDEX IF EXISTS users_external_subject_key;
ALTER TABLE users DROP COLUMN external_subject;
