CREATE TABLE "audit_archives" (
	"number" bigint PRIMARY KEY NOT NULL,
	"first_sequence" bigint NOT NULL,
	"head_sequence" bigint NOT NULL,
	"head_hash" text NOT NULL,
	"head_key_id" text NOT NULL,
	"event_count" bigint NOT NULL,
	"sha256" text NOT NULL,
	"archived_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
-- ArchiveAuditEvents deletes an archived prefix of the chain, and nothing else may: a DELETE on
-- audit_events passes only for rows at or below the sequence the transaction named in the
-- transaction-local setting warden.audit_archive_through (set_config(..., true), set only by the
-- archive path). This is no weaker than before: whoever can set it can already disable the
-- triggers. What keeps removal detectable is the chain: the live chain must start at the newest
-- archive row, and that row must match an "audit.archive" event, a keyed link.
CREATE OR REPLACE FUNCTION warden_audit_append_only() RETURNS trigger AS $$
BEGIN
  -- Nested: OLD is only read for a row of audit_events.
  IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'audit_events' THEN
    IF OLD.sequence <= COALESCE(NULLIF(current_setting('warden.audit_archive_through', true), '')::bigint, 0) THEN
      RETURN OLD;
    END IF;
  END IF;
  RAISE EXCEPTION '% is append-only (% refused)', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
--> statement-breakpoint
CREATE TRIGGER audit_archives_no_update BEFORE UPDATE OR DELETE ON audit_archives
  FOR EACH ROW EXECUTE FUNCTION warden_audit_append_only();
--> statement-breakpoint
CREATE TRIGGER audit_archives_no_truncate BEFORE TRUNCATE ON audit_archives
  FOR EACH STATEMENT EXECUTE FUNCTION warden_audit_append_only();
