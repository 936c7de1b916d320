CREATE TABLE "agent_identities" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"roles" jsonb NOT NULL,
	"cert_ttl_seconds" integer NOT NULL,
	"generation" integer DEFAULT 0 NOT NULL,
	"bootstrapped_at" timestamp with time zone,
	"last_renewed_at" timestamp with time zone,
	"locked_at" timestamp with time zone,
	"lock_reason" text,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "agent_identity_tokens" (
	"token_hash" text PRIMARY KEY NOT NULL,
	"identity_id" uuid NOT NULL,
	"kind" text NOT NULL,
	"generation" integer NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"used_at" timestamp with time zone,
	"created_at" timestamp with time zone NOT NULL,
	CONSTRAINT "agent_identity_tokens_kind" CHECK ("agent_identity_tokens"."kind" in ('bootstrap', 'renewal'))
);
--> statement-breakpoint
CREATE TABLE "join_challenges" (
	"id" text PRIMARY KEY NOT NULL,
	"purpose" text NOT NULL,
	"payload" text NOT NULL,
	"subject" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"used_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "agent_identity_tokens" ADD CONSTRAINT "agent_identity_tokens_identity_id_agent_identities_id_fk" FOREIGN KEY ("identity_id") REFERENCES "public"."agent_identities"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "agent_identities_name_key" ON "agent_identities" USING btree ("name");--> statement-breakpoint
CREATE INDEX "agent_identities_created_idx" ON "agent_identities" USING btree ("created_at","id");--> statement-breakpoint
CREATE INDEX "agent_identity_tokens_identity_idx" ON "agent_identity_tokens" USING btree ("identity_id");