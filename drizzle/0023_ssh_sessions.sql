CREATE TABLE "ssh_sessions" (
	"node_id" uuid NOT NULL,
	"session_id" text NOT NULL,
	"user_name" text NOT NULL,
	"user_id" uuid,
	"login" text NOT NULL,
	"started_at" timestamp with time zone NOT NULL,
	"remote_address" text DEFAULT '' NOT NULL,
	"terminate_requested_at" timestamp with time zone,
	CONSTRAINT "ssh_sessions_node_id_session_id_pk" PRIMARY KEY("node_id","session_id")
);
--> statement-breakpoint
ALTER TABLE "ssh_sessions" ADD CONSTRAINT "ssh_sessions_node_id_nodes_id_fk" FOREIGN KEY ("node_id") REFERENCES "public"."nodes"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "ssh_sessions_user_idx" ON "ssh_sessions" USING btree ("user_id");--> statement-breakpoint
CREATE INDEX "ssh_sessions_started_idx" ON "ssh_sessions" USING btree ("started_at");