-- Dead letters recorded before their history existed: a re-driven one is 'redriven', not 'open';
-- its only known failure is both its first and its last, and the one entry of its history.
UPDATE `dead_letters` SET `state` = 'redriven' WHERE `redriven_at` IS NOT NULL AND `state` = 'open';--> statement-breakpoint
UPDATE `dead_letters` SET `first_error` = `error`, `first_failed_at` = `failed_at` WHERE `first_error` IS NULL;--> statement-breakpoint
INSERT INTO `dead_letter_failures` (`letter_id`, `failed_at`, `error`, `attempts`)
  SELECT `id`, `failed_at`, `error`, `attempts` FROM `dead_letters` d
  WHERE NOT EXISTS (SELECT 1 FROM `dead_letter_failures` f WHERE f.`letter_id` = d.`id`);
