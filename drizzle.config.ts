import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "sqlite",
  schema: "./src/read/schema.ts",
  out: "./migrations",
});
