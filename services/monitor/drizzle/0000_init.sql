CREATE TABLE "calls" (
	"call_id" text PRIMARY KEY NOT NULL,
	"started_at" timestamp with time zone NOT NULL,
	"ended_at" timestamp with time zone,
	"last_event_at" timestamp with time zone NOT NULL,
	"model" text,
	"key_id" text,
	"user_id" text,
	"session_id" text,
	"format" text,
	"provider" text,
	"route" text,
	"stream" boolean,
	"status" integer,
	"outcome" text,
	"latency_ms" integer,
	"ttft_ms" integer,
	"usage" jsonb,
	"input_tokens" integer,
	"output_tokens" integer,
	"chunks_in" integer,
	"chunks_out" integer,
	"policy_actions" text[] DEFAULT '{}'::text[] NOT NULL,
	"bypassed" text,
	"error_type" text,
	"error_message" text,
	"event_count" integer DEFAULT 0 NOT NULL,
	"request_received_id" uuid,
	"request_sent_id" uuid,
	"response_received_id" uuid,
	"response_sent_id" uuid,
	"search_text" text DEFAULT '' NOT NULL
);
--> statement-breakpoint
CREATE TABLE "dead_letters" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "dead_letters_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"key" text NOT NULL,
	"subject" text NOT NULL,
	"stream_seq" bigint,
	"error" text NOT NULL,
	"raw" "bytea" NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "dead_letters_key_unique" UNIQUE("key")
);
--> statement-breakpoint
CREATE TABLE "events" (
	"id" uuid PRIMARY KEY NOT NULL,
	"call_id" text NOT NULL,
	"seq" integer NOT NULL,
	"type" text NOT NULL,
	"source" text NOT NULL,
	"time" timestamp with time zone NOT NULL,
	"data" jsonb NOT NULL,
	"stream_seq" bigint,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "calls_started_at_idx" ON "calls" USING btree ("started_at" DESC NULLS LAST,"call_id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "calls_model_idx" ON "calls" USING btree ("model");--> statement-breakpoint
CREATE INDEX "calls_key_id_idx" ON "calls" USING btree ("key_id");--> statement-breakpoint
CREATE INDEX "calls_status_idx" ON "calls" USING btree ("status");--> statement-breakpoint
CREATE INDEX "calls_policy_actions_idx" ON "calls" USING gin ("policy_actions");--> statement-breakpoint
CREATE INDEX "events_call_id_seq_idx" ON "events" USING btree ("call_id","seq");--> statement-breakpoint
CREATE INDEX "events_type_idx" ON "events" USING btree ("type");--> statement-breakpoint
CREATE INDEX "events_time_idx" ON "events" USING btree ("time");