CREATE TABLE "access_policies" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"organization_id" uuid NOT NULL,
	"name" text NOT NULL,
	"language" text NOT NULL,
	"source" text NOT NULL,
	"outcome" text NOT NULL,
	"message" text DEFAULT '' NOT NULL,
	"priority" integer DEFAULT 0 NOT NULL,
	"enabled" boolean DEFAULT true NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "device_challenges" (
	"id" text PRIMARY KEY NOT NULL,
	"purpose" text NOT NULL,
	"device_id" uuid,
	"key_fingerprint" text,
	"user_id" uuid,
	"organization_id" uuid,
	"payload" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"used_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "devices" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"organization_id" uuid NOT NULL,
	"user_id" uuid NOT NULL,
	"name" text NOT NULL,
	"platform" text DEFAULT '' NOT NULL,
	"key_type" text NOT NULL,
	"public_key" text NOT NULL,
	"key_fingerprint" text NOT NULL,
	"trusted" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"last_seen_at" timestamp with time zone,
	"revoked_at" timestamp with time zone,
	"posture_os" text,
	"posture_os_version" text,
	"posture_disk_encrypted" boolean,
	"posture_screen_lock" boolean,
	"posture_agent_version" text,
	"posture_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "org_policy_configs" (
	"organization_id" uuid PRIMARY KEY NOT NULL,
	"mfa" jsonb NOT NULL,
	"device" jsonb NOT NULL,
	"session" jsonb NOT NULL,
	"access_control" jsonb NOT NULL,
	"default_policy_outcome" text DEFAULT 'allow' NOT NULL,
	"version" bigint NOT NULL,
	"updated_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "telemetry_events" (
	"id" bigserial NOT NULL,
	"occurred_at" timestamp with time zone NOT NULL,
	"received_at" timestamp with time zone NOT NULL,
	"organization_id" uuid NOT NULL,
	"user_id" uuid,
	"service_account_id" uuid,
	"device_id" uuid,
	"type" text NOT NULL,
	"attributes" jsonb,
	CONSTRAINT "telemetry_events_occurred_at_id_pk" PRIMARY KEY("occurred_at","id")
) PARTITION BY RANGE ("occurred_at");
--> statement-breakpoint
-- Daily partitions are created ahead by the server (src/domain/telemetry); this one catches
-- anything outside them, so an insert never fails for want of a partition.
CREATE TABLE "telemetry_events_default" PARTITION OF "telemetry_events" DEFAULT;
--> statement-breakpoint
ALTER TABLE "sessions" ADD COLUMN "device_id" uuid;--> statement-breakpoint
ALTER TABLE "mfa_challenges" ADD COLUMN "device_id" uuid;--> statement-breakpoint
ALTER TABLE "access_policies" ADD CONSTRAINT "access_policies_organization_id_organizations_id_fk" FOREIGN KEY ("organization_id") REFERENCES "public"."organizations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "devices" ADD CONSTRAINT "devices_organization_id_organizations_id_fk" FOREIGN KEY ("organization_id") REFERENCES "public"."organizations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "devices" ADD CONSTRAINT "devices_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "org_policy_configs" ADD CONSTRAINT "org_policy_configs_organization_id_organizations_id_fk" FOREIGN KEY ("organization_id") REFERENCES "public"."organizations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "access_policies_org_name_key" ON "access_policies" USING btree ("organization_id","name");--> statement-breakpoint
CREATE INDEX "access_policies_org_idx" ON "access_policies" USING btree ("organization_id","priority");--> statement-breakpoint
CREATE INDEX "device_challenges_expires_idx" ON "device_challenges" USING btree ("expires_at");--> statement-breakpoint
CREATE UNIQUE INDEX "devices_org_key_live_key" ON "devices" USING btree ("organization_id","key_fingerprint") WHERE revoked_at IS NULL;--> statement-breakpoint
CREATE INDEX "devices_org_user_idx" ON "devices" USING btree ("organization_id","user_id","created_at");--> statement-breakpoint
CREATE INDEX "telemetry_events_org_idx" ON "telemetry_events" USING btree ("organization_id","occurred_at");--> statement-breakpoint
CREATE INDEX "sessions_device_idx" ON "sessions" USING btree ("device_id");