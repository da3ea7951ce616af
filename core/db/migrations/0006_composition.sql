CREATE TABLE "component_layers" (
	"id" uuid PRIMARY KEY NOT NULL,
	"root" text NOT NULL,
	"root_image_id" text NOT NULL,
	"component_key" text NOT NULL,
	"recipe_hash" text NOT NULL,
	"base_key" text DEFAULT '' NOT NULL,
	"base_layers" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"status" text DEFAULT 'building' NOT NULL,
	"repository" text NOT NULL,
	"digest" text,
	"diff_id" text,
	"size_bytes" bigint,
	"unpacked_bytes" bigint,
	"index_key" text,
	"shared_paths" jsonb,
	"whiteouts" jsonb,
	"opaque_dirs" jsonb,
	"dropped_markers" integer,
	"build_seconds" real,
	"error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"claimed_at" timestamp with time zone DEFAULT now() NOT NULL,
	"ready_at" timestamp with time zone,
	"retired_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "composition_roots" (
	"image_id" text PRIMARY KEY NOT NULL,
	"root" text NOT NULL,
	"diff_ids" jsonb NOT NULL,
	"layer_sizes" jsonb NOT NULL,
	"index_key" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "compositions" (
	"key" text PRIMARY KEY NOT NULL,
	"root" text NOT NULL,
	"root_image_id" text NOT NULL,
	"component_key" text NOT NULL,
	"layers" jsonb NOT NULL,
	"status" text DEFAULT 'verifying' NOT NULL,
	"merge_digest" text,
	"merge_diff_id" text,
	"merge_size" bigint,
	"merge_unpacked_bytes" bigint,
	"image_ref" text,
	"image_digest" text,
	"conflicts" jsonb,
	"error" text,
	"verify_seconds" real,
	"hits" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"claimed_at" timestamp with time zone DEFAULT now() NOT NULL,
	"verified_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "build_steps" ADD COLUMN "kind" text;--> statement-breakpoint
CREATE UNIQUE INDEX "component_layers_identity" ON "component_layers" USING btree ("root_image_id","component_key","recipe_hash","base_key");--> statement-breakpoint
CREATE INDEX "component_layers_status" ON "component_layers" USING btree ("status");--> statement-breakpoint
CREATE INDEX "compositions_status" ON "compositions" USING btree ("status");--> statement-breakpoint
CREATE INDEX "compositions_component_key" ON "compositions" USING btree ("root","component_key");