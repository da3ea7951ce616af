ALTER TABLE "component_layers" ADD COLUMN "lease_token" text;--> statement-breakpoint
ALTER TABLE "component_layers" ADD COLUMN "lease_expires_at" timestamp with time zone DEFAULT now() NOT NULL;--> statement-breakpoint
ALTER TABLE "compositions" ADD COLUMN "lease_token" text;--> statement-breakpoint
ALTER TABLE "compositions" ADD COLUMN "lease_expires_at" timestamp with time zone DEFAULT now() NOT NULL;