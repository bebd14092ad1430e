#!/usr/bin/env node
// The docs must name what the code has, so they cannot drift from it unnoticed:
//   1. every event type of src/domain/events.ts is in docs/design.md's event table and in docs/API.md;
//   2. every test file is in test/README.md, and every test file named there exists;
//   3. every repository path named in the docs or in a code comment exists;
//   4. the README's Layers table names every folder of src/, and README.md or docs/design.md names
//      every router under src/http/routes/ and src/admin/routes/.
// Markdown links are scripts/check-links.mjs's job: their targets are not checked again here.
// Each problem is printed as file:line: what is wrong; any problem exits 1.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import ts from "typescript";

const root = execFileSync("git", ["rev-parse", "--show-toplevel"], { encoding: "utf8" }).trim();
/** Tracked and untracked-but-not-ignored files, as paths from the root, that exist in the tree. */
const files = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard"], {
  cwd: root,
  encoding: "utf8",
})
  .split("\n")
  .filter((file) => file && existsSync(path.join(root, file)));

const problems = [];
const problem = (file, line, message) => problems.push(`${file}:${line}: ${message}`);
const read = (file) => readFileSync(path.join(root, file), "utf8");
const exists = (file) => existsSync(path.join(root, file));
const lineAt = (text, offset) => text.slice(0, offset).split("\n").length;
/** The 1-based line of the first line matching `pattern`, or 1. */
const lineOf = (text, pattern) => text.split("\n").findIndex((line) => pattern.test(line)) + 1 || 1;
/** The lines of a `## heading` section, up to the next heading of the same level or above. */
function section(text, heading) {
  const lines = text.split("\n");
  const start = lines.findIndex((line) => line.trim() === heading);
  if (start === -1) return null;
  const level = heading.match(/^#+/)[0].length;
  const end = lines.findIndex((line, i) => i > start && new RegExp(`^#{1,${level}} `).test(line));
  return { line: start + 1, text: lines.slice(start, end === -1 ? undefined : end).join("\n") };
}

// 1. Event types. The catalogue is `eventSchemas` (type → schema version and data schema) and the
// `UserEvent` union's `z.literal("…")`s; both are read, so a type declared in only one is still seen.
const EVENTS_SOURCE = "src/domain/events.ts";
if (!exists(EVENTS_SOURCE))
  problem(EVENTS_SOURCE, 1, "missing: where are the event types declared now? Update this script");
else {
  const source = read(EVENTS_SOURCE);
  const events = new Map(); // type → line of its first declaration
  const note = (type, offset) => events.has(type) || events.set(type, lineAt(source, offset));
  const catalogue = source.match(/\beventSchemas\s*=\s*\{([\s\S]*?)\n\}/);
  if (catalogue) {
    const body = catalogue[1].replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, (comment) => comment.replace(/[^\n]/g, " "));
    for (const match of body.matchAll(/^\s*["']?([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)["']?\s*:/gm))
      note(match[1], catalogue.index + catalogue[0].indexOf(catalogue[1]) + match.index);
  }
  for (const match of source.matchAll(/event_type:\s*z\.literal\(\s*["']([A-Z][A-Z0-9_]*)["']\s*\)/g))
    note(match[1], match.index);
  if (events.size === 0) problem(EVENTS_SOURCE, 1, "no event types found: has the catalogue moved? Update this script");

  // design.md: a row of the table in its Events section. API.md: anywhere (it lists them where it
  // defines an `Event`, whose line is the one reported).
  const design = section(read("docs/design.md"), "## Events");
  if (!design) problem("docs/design.md", 1, "has no `## Events` section");
  const tableRows = design?.text.split("\n").filter((line) => line.trimStart().startsWith("|")) ?? [];
  const api = read("docs/API.md");
  const apiLine = lineOf(api, /`event_type` is one of|An `Event` is/);
  for (const [type, line] of events) {
    const named = new RegExp(`\\b${type}\\b`);
    if (design && !tableRows.some((row) => named.test(row)))
      problem("docs/design.md", design.line, `the event table lacks ${type} (${EVENTS_SOURCE}:${line})`);
    if (!named.test(api))
      problem("docs/API.md", apiLine, `never names the event type ${type} (${EVENTS_SOURCE}:${line})`);
  }
}

// 2. Test files ↔ test/README.md, which names them relative to test/, in backticks.
const TEST_FILE = /^test\/(?:.+\.test\.ts|browser\/[^/]+\.browser\.mjs)$/;
const TESTS_README = "test/README.md";
{
  const readme = read(TESTS_README);
  const named = new Map(); // path from the root → line
  for (const match of readme.matchAll(/`(?:test\/)?([^`\s]+\.(?:test\.ts|browser\.mjs))`/g)) {
    const file = `test/${match[1]}`;
    if (!named.has(file)) named.set(file, lineAt(readme, match.index));
  }
  const filesLine = lineOf(readme, /^## Files\b/);
  for (const file of files.filter((file) => TEST_FILE.test(file)))
    if (!named.has(file)) problem(TESTS_README, filesLine, `${file.slice("test/".length)} is not listed`);
  for (const [file, line] of named)
    if (!/[*<{…]/.test(file) && !exists(file)) problem(TESTS_README, line, `names ${file}, which does not exist`);
}

// 3. Paths named in docs and comments.
/** The repository's top-level folders: a path starting with one of them is read as repo-relative. */
const ROOTS = [...new Set(files.filter((file) => file.includes("/")).map((file) => file.split("/")[0]))];
const EXTENSIONS = "ts|tsx|mts|js|mjs|cjs|json|jsonc|md|toml|sql|css|html|png|ndjson|csv|txt|sh|yml|yaml";
const rootPrefix = `(?:\\./)?(?:${ROOTS.map((dir) => dir.replace(/[.]/g, "\\.")).join("|")})/`;
/** A bare mention: a root folder, then path characters; it must end in a file extension to count. */
const BARE = new RegExp(`(?<![\\w.@/*<{…$-])${rootPrefix}[^\\s\`'"()\\[\\]|,;]*`, "g");
const WITH_EXTENSION = new RegExp(`\\.(?:${EXTENSIONS})$`);
/** Glob-like or templated mentions name a shape, not a file: `src/<folder>`, `test/**\/*.test.ts`, `${dir}/x.ts`. */
const GLOB = /[*<>{}…$]|\.\.\./;
/**
 * Folders that only exist after a build or a run (public/, bench/results/ …) are ignored by git;
 * a mention of something in them is not checked.
 */
const ignoredByGit = (file) =>
  [file, `${file}/`].some((name) => {
    try {
      execFileSync("git", ["check-ignore", "-q", "--no-index", name], { cwd: root });
      return true;
    } catch {
      return false;
    }
  });
let mentions = 0;

/** Checks each path mentioned in `text` (from `offset` in `file`'s own text); `markdown` also resolves from its folder. */
function checkMentions(file, fileText, text, offset, markdown) {
  const seen = new Set();
  const check = (mention, at, folderAllowed) => {
    const cleaned = mention
      .replace(/[.:!?]+$/, "")
      .replace(/:\d+(?::\d+)?$/, "") // a `file:line` suffix
      .replace(/#.*$/, "")
      .replace(/^\.\//, "");
    if (!cleaned || GLOB.test(cleaned)) return;
    if (!folderAllowed && !WITH_EXTENSION.test(cleaned)) return;
    const target = cleaned.replace(/\/$/, "");
    // Test files named in test/README.md are checked above, with the file list.
    if (file === TESTS_README && /\.(?:test\.ts|browser\.mjs)$/.test(target)) return;
    const line = lineAt(fileText, offset + at);
    if (seen.has(`${line} ${target}`)) return;
    seen.add(`${line} ${target}`);
    mentions += 1;
    if (exists(target)) return;
    if (markdown) {
      const local = path.relative(root, path.resolve(root, path.dirname(file), target));
      if (!local.startsWith("..") && exists(local)) return;
    }
    if (ignoredByGit(target)) return;
    problem(file, line, `names ${target}, which does not exist`);
  };
  for (const match of text.matchAll(/`([^`\n]+)`/g)) {
    const content = match[1].trim();
    const at = match.index + 1;
    if (new RegExp(`^${rootPrefix}\\S*$`).test(content)) check(content, at, true);
    // Markdown may name files from its own folder: `support/builders.ts` in test/README.md.
    else if (markdown && new RegExp(`^[\\w@-][\\w.@-]*(?:/[\\w.@-]+)+\\.(?:${EXTENSIONS})$`).test(content))
      check(content, at, false);
  }
  for (const match of text.matchAll(BARE)) check(match[0], match.index, false);
}

const MARKDOWN = files.filter(
  (file) => ["README.md", "BENCHMARKS.md", "SCALING.md", TESTS_README].includes(file) || /^docs\/.*\.md$/.test(file),
);
for (const file of MARKDOWN) {
  const text = read(file);
  // Link targets, [text](target) and [label]: target, are checked by check-links.mjs; blank them.
  const withoutLinks = text
    .replace(/\]\(\s*<?[^)\s>]+>?(?:\s+"[^"]*")?\s*\)/g, (link) => "]" + " ".repeat(link.length - 1))
    .replace(/^(\s*\[[^\]]+\]:)(.*)$/gm, (_, label, target) => label + " ".repeat(target.length));
  checkMentions(file, text, withoutLinks, 0, true);
}

const COMMENTED = files.filter((file) =>
  /^(?:src\/.*\.tsx?|test\/.*\.(?:tsx?|mjs)|cli\/.*\.ts|scripts\/[^/]+\.mjs|bench\/[^/]+\.mjs)$/.test(file),
);
for (const file of COMMENTED) {
  const text = read(file);
  const kind = /\.tsx$/.test(file) ? ts.ScriptKind.TSX : /\.m?js$/.test(file) ? ts.ScriptKind.JS : ts.ScriptKind.TS;
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, kind);
  const comments = new Map(); // start → end
  const jsxTexts = []; // [start, end]: text of the page, not trivia, even where it reads like a comment
  const visit = (node) => {
    if (node.kind === ts.SyntaxKind.JsxText || node.kind === ts.SyntaxKind.JsxTextAllWhiteSpaces)
      jsxTexts.push([node.pos, node.end]);
    // Comments are trivia around tokens: leading (on lines before one) or trailing (after one, on its line).
    else
      for (const range of [
        ...(ts.getLeadingCommentRanges(text, node.pos) ?? []),
        ...(ts.getTrailingCommentRanges(text, node.end) ?? []),
      ])
        comments.set(range.pos, range.end);
    for (const child of node.getChildren(source)) visit(child);
  };
  visit(source);
  for (const [start] of comments)
    if (jsxTexts.some(([from, to]) => start >= from && start < to)) comments.delete(start);
  for (const [start, end] of comments) checkMentions(file, text, text.slice(start, end), start, false);
}

// 4. The README's Layers table and the routers.
{
  const readme = read("README.md");
  const layers = section(readme, "## Layers");
  if (!layers) problem("README.md", 1, "has no `## Layers` section");
  for (const entry of readdirSync(path.join(root, "src"), { withFileTypes: true }))
    if (entry.isDirectory() && layers && !layers.text.includes(`\`src/${entry.name}\``))
      problem("README.md", layers.line, `the Layers table lacks \`src/${entry.name}\``);

  const docs = readme + "\n" + read("docs/design.md");
  for (const routes of ["src/http/routes/", "src/admin/routes/"])
    for (const file of files.filter((file) => file.startsWith(routes))) {
      // Named by its path from the layer's folder at least (`http/routes/users/live.ts`): a bare
      // `users.ts` could be any of several files.
      const name = file.slice("src/".length);
      if (!docs.includes(name))
        problem(file, 1, `router named in neither README.md nor docs/design.md (add it to design.md's routers table)`);
    }
}

if (problems.length > 0) {
  console.error(problems.join("\n"));
  process.exit(1);
}
console.log(
  `docs: every event type and test file listed; ${mentions} paths named in ${MARKDOWN.length} Markdown files and the comments of ${COMMENTED.length} source files exist; every src folder and router listed`,
);
