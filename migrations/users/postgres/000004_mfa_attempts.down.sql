ALTER TABLE user_mfa DROP COLUMN failed_at;
ALTER TABLE user_mfa DROP COLUMN failed_attempts;
