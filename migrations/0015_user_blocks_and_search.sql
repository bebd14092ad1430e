-- Custom SQL migration file, put your code below! --
-- Custom migration (drizzle-kit generate --custom): drizzle can express neither triggers nor an FTS5
-- virtual table. Triggers keep user_blocks and users_search right for every writer of users
-- (projector, replay, rebuild, ghost removal), as 0004 does for user_counts.
CREATE TRIGGER `users_blocks_insert` AFTER INSERT ON `users` BEGIN
  INSERT INTO `user_blocks` (`size`, `status`, `block`, `n`)
    SELECT `column1`, NEW.`status`, substr(NEW.`created_at`, 1, `column1`), 1 FROM (VALUES (7), (10), (13), (16)) WHERE true
    ON CONFLICT (`size`, `status`, `block`) DO UPDATE SET `n` = `n` + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `users_blocks_update` AFTER UPDATE OF `status`, `created_at` ON `users`
  WHEN OLD.`status` IS NOT NEW.`status` OR OLD.`created_at` IS NOT NEW.`created_at` BEGIN
  UPDATE `user_blocks` SET `n` = `n` - 1
    WHERE `size` IN (7, 10, 13, 16) AND `status` = OLD.`status` AND `block` = substr(OLD.`created_at`, 1, `size`);
  INSERT INTO `user_blocks` (`size`, `status`, `block`, `n`)
    SELECT `column1`, NEW.`status`, substr(NEW.`created_at`, 1, `column1`), 1 FROM (VALUES (7), (10), (13), (16)) WHERE true
    ON CONFLICT (`size`, `status`, `block`) DO UPDATE SET `n` = `n` + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `users_blocks_delete` AFTER DELETE ON `users` BEGIN
  UPDATE `user_blocks` SET `n` = `n` - 1
    WHERE `size` IN (7, 10, 13, 16) AND `status` = OLD.`status` AND `block` = substr(OLD.`created_at`, 1, `size`);
END;
--> statement-breakpoint
INSERT INTO `user_blocks` (`size`, `status`, `block`, `n`)
  SELECT `column1`, `status`, substr(`created_at`, 1, `column1`), count(*) FROM `users`, (VALUES (7), (10), (13), (16))
  GROUP BY 1, 2, 3;
--> statement-breakpoint
-- The substring search's index: trigrams of username and email, case-folded, keyed by the users
-- row's rowid. Contentless: it holds no copy of either value, only the trigrams, and a deleted or
-- rewritten (erased) row's entry is deleted with it.
CREATE VIRTUAL TABLE `users_search` USING fts5(`username`, `email`, content='', contentless_delete=1, tokenize='trigram');
--> statement-breakpoint
CREATE TRIGGER `users_search_insert` AFTER INSERT ON `users` BEGIN
  INSERT INTO `users_search` (`rowid`, `username`, `email`) VALUES (NEW.`rowid`, NEW.`username`, NEW.`email`);
END;
--> statement-breakpoint
CREATE TRIGGER `users_search_update` AFTER UPDATE OF `username`, `email` ON `users`
  WHEN OLD.`username` IS NOT NEW.`username` OR OLD.`email` IS NOT NEW.`email` BEGIN
  DELETE FROM `users_search` WHERE `rowid` = OLD.`rowid`;
  INSERT INTO `users_search` (`rowid`, `username`, `email`) VALUES (NEW.`rowid`, NEW.`username`, NEW.`email`);
END;
--> statement-breakpoint
CREATE TRIGGER `users_search_delete` AFTER DELETE ON `users` BEGIN
  DELETE FROM `users_search` WHERE `rowid` = OLD.`rowid`;
END;
--> statement-breakpoint
INSERT INTO `users_search` (`rowid`, `username`, `email`) SELECT `rowid`, `username`, `email` FROM `users`;
