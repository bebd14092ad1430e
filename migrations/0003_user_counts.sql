CREATE TABLE `user_counts` (
	`status` text PRIMARY KEY NOT NULL,
	`n` integer NOT NULL
);
