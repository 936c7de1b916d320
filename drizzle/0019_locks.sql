CREATE TABLE "locks" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"target_kind" text NOT NULL,
	"target_value" text NOT NULL,
	"message" text DEFAULT '' NOT NULL,
	"expires_at" timestamp with time zone,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	CONSTRAINT "locks_target_kind" CHECK ("locks"."target_kind" in ('user', 'role', 'node', 'device', 'agent_identity', 'login'))
);
--> statement-breakpoint
CREATE INDEX "locks_created_idx" ON "locks" USING btree ("created_at","id");