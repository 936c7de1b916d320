CREATE TABLE "notification_channels" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"webhook_url" text NOT NULL,
	"event_types" text[] NOT NULL,
	"disabled" boolean DEFAULT false NOT NULL,
	"secret_sealed" text NOT NULL,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "notification_deliveries" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"channel_id" uuid NOT NULL,
	"event_type" text NOT NULL,
	"event_key" text NOT NULL,
	"payload" jsonb NOT NULL,
	"state" text DEFAULT 'pending' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" timestamp with time zone NOT NULL,
	"last_status" integer,
	"last_error" text,
	"created_at" timestamp with time zone NOT NULL,
	"finished_at" timestamp with time zone,
	CONSTRAINT "notification_deliveries_event_unique" UNIQUE("channel_id","event_key"),
	CONSTRAINT "notification_deliveries_state" CHECK ("notification_deliveries"."state" in ('pending', 'delivered', 'failed'))
);
--> statement-breakpoint
ALTER TABLE "notification_deliveries" ADD CONSTRAINT "notification_deliveries_channel_id_notification_channels_id_fk" FOREIGN KEY ("channel_id") REFERENCES "public"."notification_channels"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "notification_channels_created_idx" ON "notification_channels" USING btree ("created_at","id");--> statement-breakpoint
CREATE INDEX "notification_deliveries_due_idx" ON "notification_deliveries" USING btree ("next_attempt_at") WHERE "notification_deliveries"."state" = 'pending';--> statement-breakpoint
CREATE INDEX "notification_deliveries_finished_idx" ON "notification_deliveries" USING btree ("finished_at");--> statement-breakpoint
-- The notification outbox: an audited change a channel asked for becomes a delivery in the
-- transaction that records it (src/domain/notification/event-types.ts names the types). A review
-- becomes approve or deny when it decided the request, review otherwise.
CREATE OR REPLACE FUNCTION warden_notification_outbox() RETURNS trigger AS $$
DECLARE
  kind text;
BEGIN
  kind := CASE
    WHEN NEW.event_type = 'access_request.review' THEN
      CASE NEW.details->>'state'
        WHEN 'approved' THEN 'access_request.approve'
        WHEN 'denied' THEN 'access_request.deny'
        ELSE 'access_request.review'
      END
    ELSE NEW.event_type
  END;
  INSERT INTO notification_deliveries (channel_id, event_type, event_key, payload, next_attempt_at, created_at)
  SELECT c.id, kind, 'audit:' || NEW.sequence,
    jsonb_build_object(
      'type', kind,
      'occurred_at', to_char(NEW.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
      'actor', jsonb_build_object('type', NEW.actor_type, 'id', NEW.actor_id),
      'target', jsonb_build_object('type', NEW.target_type, 'id', NEW.target_id),
      'details', NEW.details),
    NEW.occurred_at, NEW.occurred_at
  FROM notification_channels c
  WHERE NOT c.disabled AND kind = ANY(c.event_types)
  ON CONFLICT (channel_id, event_key) DO NOTHING;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
--> statement-breakpoint
CREATE TRIGGER audit_events_notify AFTER INSERT ON audit_events
  FOR EACH ROW
  WHEN (NEW.outcome = 'success' AND NEW.event_type IN ('access_request.create', 'access_request.review', 'access_request.cancel', 'access_request.expire', 'lock.create', 'lock.delete'))
  EXECUTE FUNCTION warden_notification_outbox();
