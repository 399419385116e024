CREATE TABLE "config_events" (
	"id" uuid PRIMARY KEY NOT NULL,
	"type" text NOT NULL,
	"source" text NOT NULL,
	"seq" integer NOT NULL,
	"time" timestamp with time zone NOT NULL,
	"data" jsonb NOT NULL,
	"stream_seq" bigint,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "events" ADD COLUMN "stored_as" text;--> statement-breakpoint
CREATE INDEX "config_events_time_idx" ON "config_events" USING btree ("time" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
-- Data, not schema (added by hand after drizzle-kit generate): config changes stored by earlier monitors as events
-- of a pseudo call move to config_events, and the call row they made (for ever "in progress") goes.
INSERT INTO "config_events" ("id", "type", "source", "seq", "time", "data", "stream_seq", "received_at")
SELECT "id", "type", "source", "seq", "time", "data", "stream_seq", "received_at" FROM "events" WHERE "type" LIKE 'policy.config.%'
ON CONFLICT ("id") DO NOTHING;--> statement-breakpoint
DELETE FROM "calls" WHERE "call_id" IN (SELECT "call_id" FROM "events" WHERE "type" LIKE 'policy.config.%')
AND NOT EXISTS (SELECT 1 FROM "events" AS e WHERE e."call_id" = "calls"."call_id" AND e."type" NOT LIKE 'policy.config.%');--> statement-breakpoint
DELETE FROM "events" WHERE "type" LIKE 'policy.config.%';
