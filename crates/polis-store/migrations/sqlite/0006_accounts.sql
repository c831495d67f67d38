-- Accounts (SQLite): a user can be disabled (no sign-in, no session), and their last sign-in is
-- kept for the administrators' list. The audit log is searched by actor, entity and time.
ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN last_login_at_ms INTEGER;
CREATE INDEX audit_log_at ON audit_log (at_ms);
CREATE INDEX audit_log_entity_id ON audit_log (entity_id);
