#!/usr/bin/env node
// Every relative link in the repository's Markdown must point at a file or folder inside the
// repository that exists: a link to ../shared or to a moved file is dead in any clone.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";

const root = execFileSync("git", ["rev-parse", "--show-toplevel"], { encoding: "utf8" }).trim();
const files = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard", "*.md"], {
  cwd: root,
  encoding: "utf8",
})
  .split("\n")
  .filter((file) => file && existsSync(path.join(root, file)));

// [text](target) and [label]: target, outside code blocks and inline code.
const LINK = /\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)|^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm;
const problems = [];
for (const file of files) {
  const text = readFileSync(path.join(root, file), "utf8")
    .replace(/^```[\s\S]*?^```/gm, "")
    .replace(/`[^`\n]*`/g, "");
  for (const match of text.matchAll(LINK)) {
    const target = match[1] ?? match[2];
    if (!target || /^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith("#")) continue;
    const resolved = path.resolve(path.dirname(path.join(root, file)), decodeURI(target.split("#")[0]));
    if (path.relative(root, resolved).startsWith(".."))
      problems.push(`${file}: ${target} points outside the repository`);
    else if (!existsSync(resolved)) problems.push(`${file}: ${target} does not exist`);
  }
}
if (problems.length > 0) {
  console.error(problems.join("\n"));
  process.exit(1);
}
console.log(`links: ${files.length} Markdown files, every relative link inside the repository and present`);
