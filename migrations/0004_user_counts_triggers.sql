-- Custom SQL migration file, put your code below! --
-- Custom migration (drizzle-kit generate --custom): triggers keep user_counts exact for every
-- writer of users (projector, replay, rebuild, ghost removal), so no code path can forget it.
CREATE TRIGGER `users_count_insert` AFTER INSERT ON `users` BEGIN
  INSERT INTO `user_counts` (`status`, `n`) VALUES (NEW.`status`, 1)
    ON CONFLICT (`status`) DO UPDATE SET `n` = `n` + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `users_count_update` AFTER UPDATE OF `status` ON `users` WHEN OLD.`status` IS NOT NEW.`status` BEGIN
  UPDATE `user_counts` SET `n` = `n` - 1 WHERE `status` = OLD.`status`;
  INSERT INTO `user_counts` (`status`, `n`) VALUES (NEW.`status`, 1)
    ON CONFLICT (`status`) DO UPDATE SET `n` = `n` + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `users_count_delete` AFTER DELETE ON `users` BEGIN
  UPDATE `user_counts` SET `n` = `n` - 1 WHERE `status` = OLD.`status`;
END;
--> statement-breakpoint
INSERT INTO `user_counts` (`status`, `n`) SELECT `status`, count(*) FROM `users` GROUP BY `status`;
