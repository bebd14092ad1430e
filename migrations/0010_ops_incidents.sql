CREATE TABLE `ops_incidents` (
	`key` text PRIMARY KEY NOT NULL,
	`started_at` text NOT NULL
);
