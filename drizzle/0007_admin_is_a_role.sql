-- An administrator is a user who holds the built-in admin role: the flag becomes the role.
UPDATE "users" SET "roles" = array_append("roles", 'admin') WHERE "admin" AND NOT ('admin' = ANY("roles"));--> statement-breakpoint
ALTER TABLE "users" DROP COLUMN "admin";
