import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { createPolicyEngineClient, type EngineMessage__Output, type GatewayMessage } from "@luthien/protocol";

/** A POLICY_CONFIG file with `text`, in a fresh temp dir. */
export function writeConfig(text: string): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), "luthien-cp-")), "policies.yaml");
  writeFileSync(file, text);
  return file;
}

/** Runs one Process stream: writes `messages`, collects answers until the engine closes its side. */
export async function converse(address: string, messages: GatewayMessage[]): Promise<EngineMessage__Output[]> {
  const client = createPolicyEngineClient({ address });
  const stream = client.Process();
  const answers: EngineMessage__Output[] = [];
  const done = new Promise<void>((resolve, reject) => {
    stream.on("data", (m: EngineMessage__Output) => answers.push(m));
    stream.on("end", () => resolve());
    stream.on("error", reject);
  });
  for (const m of messages) stream.write(m);
  stream.end();
  await done;
  client.close();
  return answers;
}
