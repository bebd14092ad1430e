#!/usr/bin/env node
// Builds the browser side into public/ (Workers static assets, ignored by git): the console's
// bundle (Hono JSX islands, esbuild) and Swagger UI's files for /docs, copied from the
// swagger-ui-dist package. Nothing is fetched at run time. Runs from wrangler's [build] step
// (npm start, deploy) and before the tests; `--watch` rebuilds on change.
import { copyFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const PUBLIC = path.join(ROOT, "public");

const swagger = path.join(ROOT, "node_modules", "swagger-ui-dist");
const vendor = path.join(PUBLIC, "vendor", "swagger-ui");
mkdirSync(vendor, { recursive: true });
for (const file of ["swagger-ui.css", "swagger-ui-bundle.js"])
  copyFileSync(path.join(swagger, file), path.join(vendor, file));

const options = {
  absWorkingDir: ROOT,
  entryPoints: { app: "src/console/main.tsx", docs: "src/console/docs.ts" },
  outdir: path.join(PUBLIC, "console", "assets"),
  bundle: true,
  format: "esm",
  splitting: true, // "make a test from this" loads the domain's schemas only when used
  chunkNames: "chunks/[name]-[hash]",
  target: "es2022",
  minify: true,
  sourcemap: true,
  jsx: "automatic",
  jsxImportSource: "hono/jsx/dom",
  logLevel: "warning",
};

if (process.argv.includes("--watch")) {
  const context = await esbuild.context(options);
  await context.watch();
} else {
  const result = await esbuild.build({ ...options, metafile: true });
  const sizes = Object.entries(result.metafile.outputs)
    .filter(([file]) => !file.endsWith(".map"))
    .map(([file, output]) => `${path.basename(file)} ${(output.bytes / 1024).toFixed(1)} KB`);
  console.log(`console built: ${sizes.join(", ")}`);
}
