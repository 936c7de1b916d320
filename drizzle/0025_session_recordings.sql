CREATE TABLE "recording_chunks" (
	"recording_id" uuid NOT NULL,
	"offset" bigint NOT NULL,
	"data" "bytea" NOT NULL,
	CONSTRAINT "recording_chunks_recording_id_offset_pk" PRIMARY KEY("recording_id","offset")
);
--> statement-breakpoint
CREATE TABLE "session_recordings" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"node_id" uuid NOT NULL,
	"session_id" text NOT NULL,
	"user_name" text NOT NULL,
	"login" text NOT NULL,
	"started_at" timestamp with time zone NOT NULL,
	"ended_at" timestamp with time zone,
	"size_bytes" bigint DEFAULT 0 NOT NULL,
	"sha256" "bytea",
	"complete" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	CONSTRAINT "session_recordings_node_session_key" UNIQUE("node_id","session_id"),
	CONSTRAINT "session_recordings_size" CHECK ("session_recordings"."size_bytes" >= 0),
	CONSTRAINT "session_recordings_complete_sha" CHECK (not "session_recordings"."complete" or "session_recordings"."sha256" is not null)
);
--> statement-breakpoint
ALTER TABLE "recording_chunks" ADD CONSTRAINT "recording_chunks_recording_id_session_recordings_id_fk" FOREIGN KEY ("recording_id") REFERENCES "public"."session_recordings"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "session_recordings" ADD CONSTRAINT "session_recordings_node_id_nodes_id_fk" FOREIGN KEY ("node_id") REFERENCES "public"."nodes"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "session_recordings_started_idx" ON "session_recordings" USING btree ("started_at","id");--> statement-breakpoint
CREATE INDEX "session_recordings_user_idx" ON "session_recordings" USING btree ("user_name");