CREATE TABLE `refusal_windows` (
	`kind` text NOT NULL,
	`key` text NOT NULL,
	`window_start` text NOT NULL,
	`seen` integer NOT NULL,
	`cap` integer NOT NULL,
	PRIMARY KEY(`kind`, `key`, `window_start`)
);
--> statement-breakpoint
CREATE INDEX `refusal_windows_by_time` ON `refusal_windows` (`window_start`);--> statement-breakpoint
CREATE TABLE `refusals` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`at` text NOT NULL,
	`actor_id` text NOT NULL,
	`target_id` text,
	`command` text NOT NULL,
	`status` integer NOT NULL,
	`reason` text NOT NULL,
	`request_id` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `refusals_by_time` ON `refusals` (`at`,`id`);--> statement-breakpoint
CREATE INDEX `refusals_by_target` ON `refusals` (`target_id`,`at`,`id`);--> statement-breakpoint
CREATE INDEX `refusals_by_actor` ON `refusals` (`actor_id`,`at`,`id`);--> statement-breakpoint
CREATE INDEX `refusals_by_request` ON `refusals` (`request_id`);