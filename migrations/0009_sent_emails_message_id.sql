ALTER TABLE `sent_emails` ADD `message_id` text;--> statement-breakpoint
ALTER TABLE `sent_emails` ADD `attempts` integer;--> statement-breakpoint
CREATE INDEX `sent_emails_by_time` ON `sent_emails` (`sent_at`,`user_id`,`kind`);