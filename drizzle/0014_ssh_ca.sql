CREATE TABLE "certificate_authorities" (
	"id" text PRIMARY KEY NOT NULL,
	"kind" text NOT NULL,
	"public_key" text NOT NULL,
	"private_key_encrypted" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"retired_at" timestamp with time zone,
	CONSTRAINT "certificate_authorities_kind" CHECK ("certificate_authorities"."kind" in ('user', 'host'))
);
--> statement-breakpoint
ALTER TABLE "roles" ADD COLUMN "logins" text[] DEFAULT '{}' NOT NULL;--> statement-breakpoint
ALTER TABLE "roles" ADD COLUMN "node_labels" jsonb DEFAULT '{}'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "roles" ADD COLUMN "max_session_ttl_seconds" integer;--> statement-breakpoint
ALTER TABLE "roles" ADD COLUMN "ssh_permissions" jsonb DEFAULT '{}'::jsonb NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX "certificate_authorities_active_kind" ON "certificate_authorities" USING btree ("kind") WHERE "certificate_authorities"."retired_at" is null;