ALTER TABLE "certificate_authorities" ADD COLUMN "rotation_phase" text;--> statement-breakpoint
DROP INDEX IF EXISTS "certificate_authorities_active_kind";--> statement-breakpoint
CREATE UNIQUE INDEX "certificate_authorities_settled_kind" ON "certificate_authorities" USING btree ("kind") WHERE "certificate_authorities"."retired_at" is null and "certificate_authorities"."rotation_phase" is null;--> statement-breakpoint
CREATE UNIQUE INDEX "certificate_authorities_rotating_kind" ON "certificate_authorities" USING btree ("kind") WHERE "certificate_authorities"."retired_at" is null and "certificate_authorities"."rotation_phase" is not null;--> statement-breakpoint
ALTER TABLE "certificate_authorities" ADD CONSTRAINT "certificate_authorities_phase" CHECK ("certificate_authorities"."rotation_phase" is null or "certificate_authorities"."rotation_phase" in ('init', 'update_clients', 'update_servers'));
