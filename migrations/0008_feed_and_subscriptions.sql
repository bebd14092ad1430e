CREATE TABLE `feed` (
	`position` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`event_id` text NOT NULL,
	`user_id` text NOT NULL,
	`revision` integer NOT NULL,
	`event_type` text NOT NULL,
	`timestamp` text NOT NULL,
	`event` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `feed_event_id_unique` ON `feed` (`event_id`);--> statement-breakpoint
CREATE INDEX `feed_by_type` ON `feed` (`event_type`,`position`);--> statement-breakpoint
CREATE INDEX `feed_by_user` ON `feed` (`user_id`,`revision`);--> statement-breakpoint
CREATE TABLE `subscriptions` (
	`id` text PRIMARY KEY NOT NULL,
	`url` text NOT NULL,
	`event_types` text NOT NULL,
	`description` text,
	`status` text NOT NULL,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL
);
