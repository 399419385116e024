// `npx drizzle-kit generate --config services/monitor/drizzle.config.js --name <change>` writes a migration from
// src/db/schema.ts into drizzle/ (no database needed). Commit the result; the monitor applies it at start.
module.exports = {
  dialect: "postgresql",
  schema: "./src/db/schema.ts",
  out: "./drizzle",
};
