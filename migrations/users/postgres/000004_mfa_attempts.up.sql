-- Wrong second-factor codes in a row (login and disable): after 5 within
-- 15 minutes the account's code checks answer 429 until the window passes.
ALTER TABLE user_mfa ADD COLUMN failed_attempts integer NOT NULL DEFAULT 0;
ALTER TABLE user_mfa ADD COLUMN failed_at timestamptz;
