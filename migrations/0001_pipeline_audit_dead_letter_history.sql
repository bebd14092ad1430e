CREATE TABLE `audit_log` (
	`event_id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`event_type` text NOT NULL,
	`revision` integer NOT NULL,
	`timestamp` text NOT NULL,
	`actor_id` text,
	`actor_username` text,
	`reason` text,
	`request_id` text,
	`username` text NOT NULL,
	`email` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `audit_by_time` ON `audit_log` (`timestamp`,`user_id`,`revision`);--> statement-breakpoint
CREATE INDEX `audit_by_user` ON `audit_log` (`user_id`,`timestamp`,`revision`);--> statement-breakpoint
CREATE INDEX `audit_by_username` ON `audit_log` (lower("username"),`timestamp`,`user_id`,`revision`);--> statement-breakpoint
CREATE INDEX `audit_by_email` ON `audit_log` (lower("email"),`timestamp`,`user_id`,`revision`);--> statement-breakpoint
CREATE INDEX `audit_by_actor_id` ON `audit_log` (`actor_id`,`timestamp`,`user_id`,`revision`);--> statement-breakpoint
CREATE INDEX `audit_by_actor_name` ON `audit_log` (lower("actor_username"),`timestamp`,`user_id`,`revision`);--> statement-breakpoint
CREATE INDEX `audit_by_type` ON `audit_log` (`event_type`,`timestamp`,`user_id`,`revision`);--> statement-breakpoint
CREATE TABLE `checkpoints` (
	`projection` text NOT NULL,
	`user_id` text NOT NULL,
	`revision` integer NOT NULL,
	`state` text NOT NULL,
	PRIMARY KEY(`projection`, `user_id`)
);
--> statement-breakpoint
CREATE TABLE `dead_letter_failures` (
	`letter_id` integer NOT NULL,
	`failed_at` text NOT NULL,
	`error` text NOT NULL,
	`attempts` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `dead_letter_failures_by_letter` ON `dead_letter_failures` (`letter_id`,`failed_at`);--> statement-breakpoint
CREATE TABLE `projection_heads` (
	`projection` text PRIMARY KEY NOT NULL,
	`event_id` text NOT NULL,
	`user_id` text NOT NULL,
	`revision` integer NOT NULL,
	`event_at` text NOT NULL,
	`projected_at` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `streams` (
	`user_id` text PRIMARY KEY NOT NULL,
	`published_revision` integer NOT NULL,
	`confirmed_revision` integer NOT NULL,
	`owed_since` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `streams_owed` ON `streams` (`owed_since`) WHERE confirmed_revision < published_revision;--> statement-breakpoint
DROP INDEX `dead_letters_pending`;--> statement-breakpoint
ALTER TABLE `dead_letters` ADD `projection` text;--> statement-breakpoint
ALTER TABLE `dead_letters` ADD `state` text DEFAULT 'open' NOT NULL;--> statement-breakpoint
ALTER TABLE `dead_letters` ADD `exhaustions` integer DEFAULT 1 NOT NULL;--> statement-breakpoint
ALTER TABLE `dead_letters` ADD `first_error` text;--> statement-breakpoint
ALTER TABLE `dead_letters` ADD `first_failed_at` text;--> statement-breakpoint
ALTER TABLE `dead_letters` ADD `resolved_at` text;--> statement-breakpoint
CREATE INDEX `dead_letters_by_state` ON `dead_letters` (`state`,`id`);--> statement-breakpoint
CREATE INDEX `dead_letters_by_user` ON `dead_letters` (`aggregate_id`,`state`);