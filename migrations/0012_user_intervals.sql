CREATE TABLE `user_intervals` (
	`user_id` text NOT NULL,
	`revision` integer NOT NULL,
	`username` text NOT NULL,
	`email` text NOT NULL,
	`status` text NOT NULL,
	`role` text NOT NULL,
	`valid_from` text NOT NULL,
	`valid_to` text,
	PRIMARY KEY(`user_id`, `revision`)
);
--> statement-breakpoint
CREATE INDEX `user_intervals_by_status` ON `user_intervals` (`status`,`user_id`,`valid_from`,`valid_to`);--> statement-breakpoint
CREATE INDEX `user_intervals_by_email` ON `user_intervals` (lower("email"),`valid_from`,`valid_to`,`user_id`);--> statement-breakpoint
CREATE INDEX `user_intervals_by_username` ON `user_intervals` (lower("username"),`valid_from`,`valid_to`,`user_id`);