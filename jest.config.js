/** Tests run from TypeScript sources through @swc/jest; `tsc -p tsconfig.test.json` type-checks them. */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/packages", "<rootDir>/services", "<rootDir>/deploy"],
  testMatch: ["**/test/**/*.test.ts"],
  testEnvironmentOptions: { customExportConditions: ["@luthien/source", "node", "require", "default"] },
  transform: {
    "^.+\\.ts$": ["@swc/jest", { jsc: { target: "es2023", parser: { syntax: "typescript" } }, module: { type: "commonjs" } }],
  },
  testTimeout: 30000,
  reporters: ["default", "<rootDir>/scripts/summary-reporter.js"],
};
