CREATE TABLE `user_blocks` (
	`size` integer NOT NULL,
	`status` text NOT NULL,
	`block` text NOT NULL,
	`n` integer NOT NULL,
	PRIMARY KEY(`size`, `status`, `block`)
);
