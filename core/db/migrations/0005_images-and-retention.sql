CREATE TABLE "images" (
	"id" uuid PRIMARY KEY NOT NULL,
	"project" text NOT NULL,
	"build_id" uuid NOT NULL,
	"repository" text NOT NULL,
	"tag" text NOT NULL,
	"digest" text NOT NULL,
	"image_ref" text NOT NULL,
	"components" text[] NOT NULL,
	"component_names" text[] NOT NULL,
	"template_id" uuid,
	"upload_sha256" text NOT NULL,
	"status" text DEFAULT 'current' NOT NULL,
	"pushed_at" timestamp with time zone NOT NULL,
	"deleted_at" timestamp with time zone,
	"deleted_by" text
);
--> statement-breakpoint
CREATE TABLE "retention_rules" (
	"project" text PRIMARY KEY NOT NULL,
	"keep_newest" integer,
	"keep_days" real,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_run_at" timestamp with time zone,
	"last_result" jsonb
);
--> statement-breakpoint
ALTER TABLE "images" ADD CONSTRAINT "images_build_id_builds_id_fk" FOREIGN KEY ("build_id") REFERENCES "public"."builds"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "retention_rules" ADD CONSTRAINT "retention_rules_project_projects_name_fk" FOREIGN KEY ("project") REFERENCES "public"."projects"("name") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "images_project_pushed_at" ON "images" USING btree ("project","pushed_at","id");--> statement-breakpoint
CREATE INDEX "images_project_repository_tag" ON "images" USING btree ("project","repository","tag");--> statement-breakpoint
CREATE INDEX "images_upload_sha256" ON "images" USING btree ("upload_sha256");
--> statement-breakpoint
-- Images pushed before the catalog existed: every succeeded build's image, the newest of each tag current.
INSERT INTO "images" ("id", "project", "build_id", "repository", "tag", "digest", "image_ref", "components", "component_names", "template_id", "upload_sha256", "status", "pushed_at")
SELECT gen_random_uuid(), b."project", b."id",
  regexp_replace(b."spec"->>'image', ':[^:]*$', ''),
  substring(b."spec"->>'image' from ':([^:]*)$'),
  b."digest", b."image_ref",
  ARRAY(SELECT c.value->>'key' FROM jsonb_array_elements(b."plan"->'components') WITH ORDINALITY AS c(value, n) ORDER BY c.n),
  ARRAY(SELECT c.value->>'name' FROM jsonb_array_elements(b."plan"->'components') WITH ORDINALITY AS c(value, n) ORDER BY c.n),
  b."template_id", b."plan"->'binary'->>'sha256',
  CASE WHEN row_number() OVER (PARTITION BY b."project", b."spec"->>'image' ORDER BY b."finished_at" DESC NULLS LAST, b."id" DESC) = 1 THEN 'current' ELSE 'superseded' END,
  date_trunc('milliseconds', COALESCE(b."finished_at", b."queued_at"))
FROM "builds" b
WHERE b."status" = 'succeeded' AND b."digest" IS NOT NULL;
