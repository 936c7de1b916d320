CREATE TABLE "cluster_config" (
	"id" integer PRIMARY KEY NOT NULL,
	"overrides" jsonb NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	"updated_by" text NOT NULL,
	CONSTRAINT "cluster_config_one_row" CHECK ("cluster_config"."id" = 1)
);
