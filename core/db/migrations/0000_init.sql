CREATE TABLE "uploads" (
	"id" uuid PRIMARY KEY NOT NULL,
	"project" text NOT NULL,
	"sha256" text NOT NULL,
	"size" bigint NOT NULL,
	"s3_key" text NOT NULL,
	"filename" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "uploads_project_sha256" UNIQUE("project","sha256")
);
--> statement-breakpoint
CREATE TABLE "build_steps" (
	"build_id" uuid NOT NULL,
	"position" integer NOT NULL,
	"component" text NOT NULL,
	"recipe_hash" text,
	"seconds" real NOT NULL,
	"cached" boolean NOT NULL,
	CONSTRAINT "build_steps_build_id_position_pk" PRIMARY KEY("build_id","position")
);
--> statement-breakpoint
CREATE TABLE "builds" (
	"id" uuid PRIMARY KEY NOT NULL,
	"project" text NOT NULL,
	"spec" jsonb NOT NULL,
	"plan" jsonb NOT NULL,
	"status" text DEFAULT 'queued' NOT NULL,
	"error" text,
	"image_ref" text NOT NULL,
	"digest" text,
	"image_id" text,
	"attempts" integer DEFAULT 0 NOT NULL,
	"queued_at" timestamp with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "build_steps" ADD CONSTRAINT "build_steps_build_id_builds_id_fk" FOREIGN KEY ("build_id") REFERENCES "public"."builds"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "uploads_created_at" ON "uploads" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "build_steps_component" ON "build_steps" USING btree ("component");--> statement-breakpoint
CREATE INDEX "builds_project_queued_at" ON "builds" USING btree ("project","queued_at");--> statement-breakpoint
CREATE INDEX "builds_status" ON "builds" USING btree ("status");