ALTER TABLE "users" ADD COLUMN "login_alias" text;--> statement-breakpoint
CREATE UNIQUE INDEX "users_login_alias_key" ON "users" USING btree ("login_alias");