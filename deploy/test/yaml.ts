import { createRequire } from "node:module";
import * as path from "node:path";

/** The repository root. */
export const REPO = path.resolve(__dirname, "../..");

interface YamlDocument {
  errors: readonly { message: string }[];
  toJS(): unknown;
}

interface YamlModule {
  parse(text: string, options?: { merge?: boolean }): unknown;
  parseAllDocuments(text: string): YamlDocument[] | YamlDocument;
}

// The `yaml` package the services themselves parse their config with; the repository root does not depend on it.
const yaml = createRequire(path.join(REPO, "services/control-plane/package.json"))("yaml") as YamlModule;

/** One YAML document; `<<` merge keys are honoured, as docker compose does. @throws on invalid YAML */
export function parseYaml(text: string): unknown {
  return yaml.parse(text, { merge: true });
}

/** Every non-empty document of a multi-document file. @throws on invalid YAML */
export function parseYamlDocuments(text: string): unknown[] {
  const parsed = yaml.parseAllDocuments(text);
  const docs = Array.isArray(parsed) ? parsed : [parsed];
  return docs
    .map((d) => {
      const first = d.errors[0];
      if (first !== undefined) throw new Error(first.message);
      return d.toJS();
    })
    .filter((d) => d !== null && d !== undefined);
}
