import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { configSchema, envNameOf } from "../../src/config.js";
import { blockOf, README, TABLES } from "../../scripts/readme-tables.js";

const readme = readFileSync(README, "utf8");

describe("README.md agrees with the code", () => {
  it.each(Object.keys(TABLES))("the %s table is the catalogue's (npm run docs rewrites it)", (name) => {
    expect(blockOf(readme, name), `README.md lacks the ${name} block`).toBeDefined();
    expect(blockOf(readme, name)).toBe(TABLES[name]!());
  });

  it("lists every setting of the configuration with its environment variable", () => {
    const rows = readme.split("\n").filter((line) => line.startsWith("| `"));
    for (const key of Object.keys(configSchema.shape)) {
      const row = rows.find((r) => r.startsWith(`| \`${key}\` |`));
      expect(row, `no row for ${key} in the configuration table`).toBeDefined();
      expect(row).toContain(`\`${envNameOf(key)}\``);
    }
  });
});
