CREATE TABLE "audit_checkpoints" (
	"number" bigint PRIMARY KEY NOT NULL,
	"sequence" bigint NOT NULL,
	"hash" text NOT NULL,
	"kid" text NOT NULL,
	"signed_at" timestamp with time zone NOT NULL,
	"jws" text NOT NULL
);
--> statement-breakpoint
-- The links written so far are plain SHA-256: marked "legacy", they keep verifying that way.
ALTER TABLE "audit_events" ADD COLUMN "key_id" text DEFAULT 'legacy' NOT NULL;
--> statement-breakpoint
-- From here on every link names its key (the append statement always does).
ALTER TABLE "audit_events" ALTER COLUMN "key_id" DROP DEFAULT;
--> statement-breakpoint
-- Checkpoints are append-only too; the refusal names the table it guards.
CREATE OR REPLACE FUNCTION warden_audit_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION '% is append-only (% refused)', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
--> statement-breakpoint
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE OR DELETE ON audit_checkpoints
  FOR EACH ROW EXECUTE FUNCTION warden_audit_append_only();
--> statement-breakpoint
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION warden_audit_append_only();
