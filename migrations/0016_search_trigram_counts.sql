-- Custom migration (drizzle-kit generate --custom): drizzle can express neither an fts5vocab table nor
-- a table the search index's own statistics live in (users_search, 0015, is not in drizzle either).
-- How many users' username or email holds each common trigram: a search picks its needle's rarest
-- trigrams by it and reads only their posting lists (docs/decisions/0028). users_search_terms reads
-- the counts out of the index (by walking every posting list: too slow per search, fine once a day);
-- search_trigram_counts keeps the trigrams found in at least 32 users, refilled by the day's merge
-- (src/read/search-index.ts). A trigram it does not list is rarer than that.
CREATE VIRTUAL TABLE `users_search_terms` USING fts5vocab('users_search', 'col');
--> statement-breakpoint
CREATE TABLE `search_trigram_counts` (
	`col` text NOT NULL,
	`trigram` text NOT NULL,
	`docs` integer NOT NULL,
	PRIMARY KEY(`col`, `trigram`)
) WITHOUT ROWID;
--> statement-breakpoint
INSERT INTO `search_trigram_counts` (`col`, `trigram`, `docs`)
  SELECT `col`, `term`, `doc` FROM `users_search_terms` WHERE `doc` >= 32;
