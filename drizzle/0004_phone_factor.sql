ALTER TABLE "mfa_factors" ADD COLUMN "pending_code_hash" text;--> statement-breakpoint
ALTER TABLE "mfa_factors" ADD COLUMN "pending_code_expires_at" timestamp with time zone;