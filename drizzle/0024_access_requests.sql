CREATE TABLE "access_requests" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"user_id" uuid NOT NULL,
	"roles" text[] NOT NULL,
	"reason" text NOT NULL,
	"requested_ttl_seconds" integer,
	"state" text NOT NULL,
	"approvals_required" integer NOT NULL,
	"reviews" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	"pending_expires_at" timestamp with time zone NOT NULL,
	"access_expires_at" timestamp with time zone,
	CONSTRAINT "access_requests_state" CHECK ("access_requests"."state" in ('pending', 'approved', 'denied', 'cancelled', 'expired'))
);
--> statement-breakpoint
ALTER TABLE "roles" ADD COLUMN "request_roles" text[] DEFAULT '{}' NOT NULL;--> statement-breakpoint
ALTER TABLE "roles" ADD COLUMN "review_roles" text[] DEFAULT '{}' NOT NULL;--> statement-breakpoint
ALTER TABLE "roles" ADD COLUMN "approvals_required" integer DEFAULT 1 NOT NULL;--> statement-breakpoint
CREATE INDEX "access_requests_created_idx" ON "access_requests" USING btree ("created_at","id");--> statement-breakpoint
CREATE INDEX "access_requests_user_idx" ON "access_requests" USING btree ("user_id","created_at");--> statement-breakpoint
CREATE INDEX "access_requests_approved_idx" ON "access_requests" USING btree ("access_expires_at") WHERE "access_requests"."state" = 'approved';