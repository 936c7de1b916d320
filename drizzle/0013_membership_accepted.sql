ALTER TABLE "memberships" ADD COLUMN "accepted_at" timestamp with time zone;--> statement-breakpoint
-- Memberships from before acceptance existed count as accepted: they were made by the same rules.
UPDATE "memberships" SET "accepted_at" = "created_at";
