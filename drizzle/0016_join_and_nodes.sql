CREATE TABLE "x509_authorities" (
	"id" text PRIMARY KEY NOT NULL,
	"certificate_pem" text NOT NULL,
	"private_key_encrypted" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"retired_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "join_tokens" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"token_hash" text NOT NULL,
	"roles" jsonb NOT NULL,
	"uses" integer NOT NULL,
	"uses_remaining" integer NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"labels" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"join_method" text NOT NULL,
	"allow" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	CONSTRAINT "join_tokens_uses_remaining" CHECK ("join_tokens"."uses_remaining" >= 0 and "join_tokens"."uses_remaining" <= "join_tokens"."uses")
);
--> statement-breakpoint
CREATE TABLE "nodes" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"state" text NOT NULL,
	"join_token_id" uuid,
	"join_method" text NOT NULL,
	"roles" jsonb NOT NULL,
	"hostname" text NOT NULL,
	"addresses" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"host_key_fingerprint" text,
	"agent_labels" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"token_labels" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"admin_labels" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"version" text DEFAULT '' NOT NULL,
	"agent_token_hash" text,
	"created_at" timestamp with time zone NOT NULL,
	"registered_at" timestamp with time zone,
	"last_heartbeat_at" timestamp with time zone,
	"deregistered_at" timestamp with time zone,
	CONSTRAINT "nodes_state" CHECK ("nodes"."state" in ('pending', 'registered', 'deregistered'))
);
--> statement-breakpoint
ALTER TABLE "nodes" ADD CONSTRAINT "nodes_join_token_id_join_tokens_id_fk" FOREIGN KEY ("join_token_id") REFERENCES "public"."join_tokens"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "x509_authorities_active" ON "x509_authorities" USING btree ((true)) WHERE "x509_authorities"."retired_at" is null;--> statement-breakpoint
CREATE UNIQUE INDEX "join_tokens_hash_key" ON "join_tokens" USING btree ("token_hash");--> statement-breakpoint
CREATE INDEX "join_tokens_created_idx" ON "join_tokens" USING btree ("created_at","id");--> statement-breakpoint
CREATE UNIQUE INDEX "nodes_token_host_key" ON "nodes" USING btree ("join_token_id","host_key_fingerprint") WHERE "nodes"."state" = 'pending';--> statement-breakpoint
CREATE UNIQUE INDEX "nodes_agent_token_hash_key" ON "nodes" USING btree ("agent_token_hash");--> statement-breakpoint
CREATE INDEX "nodes_listing_idx" ON "nodes" USING btree ("hostname","id");