import { readFileSync, statSync } from "node:fs";
import * as path from "node:path";
import { parseYaml, parseYamlDocuments } from "./yaml";

/** A Kubernetes object as rendered: only what the tests look at is typed. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

type Json = Record<string, unknown>;

const CLUSTER_SCOPED = new Set(["Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass"]);
// The kustomization fields this renderer implements; any other one fails the render instead of being ignored.
const SUPPORTED = new Set(["apiVersion", "kind", "namespace", "resources", "patches", "images", "configMapGenerator", "secretGenerator", "generatorOptions"]);

/**
 * Renders a kustomization the way `kubectl kustomize` does, for the subset Luthien's manifests use: `resources`
 * (files and directories), strategic-merge `patches` from files, `images`, `namespace`, and config map and secret
 * generators with `disableNameSuffixHash` (name hashes are not implemented). Anything else throws, so the
 * manifests cannot grow a feature this renderer would silently get wrong. Where kubectl is installed the tests
 * also compare this output with kubectl's.
 */
export function renderKustomization(dir: string): K8sObject[] {
  const k = parseYaml(readFileSync(path.join(dir, "kustomization.yaml"), "utf8")) as Json;
  for (const key of Object.keys(k)) if (!SUPPORTED.has(key)) throw new Error(`${dir}: kustomization field ${key} is not supported by the test renderer`);

  const objects: K8sObject[] = [];
  for (const r of (k["resources"] ?? []) as string[]) {
    const target = path.resolve(dir, r);
    if (statSync(target).isDirectory()) objects.push(...renderKustomization(target));
    else objects.push(...(parseYamlDocuments(readFileSync(target, "utf8")) as K8sObject[]));
  }

  const generators = [...((k["configMapGenerator"] ?? []) as Json[]), ...((k["secretGenerator"] ?? []) as Json[])];
  if (generators.length > 0 && (k["generatorOptions"] as Json | undefined)?.["disableNameSuffixHash"] !== true) {
    throw new Error(`${dir}: generators need generatorOptions.disableNameSuffixHash (hashed names are not implemented)`);
  }
  for (const g of (k["configMapGenerator"] ?? []) as Json[]) {
    objects.push({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: g["name"] as string }, data: generatedData(dir, g, false) });
  }
  for (const g of (k["secretGenerator"] ?? []) as Json[]) {
    objects.push({ apiVersion: "v1", kind: "Secret", type: "Opaque", metadata: { name: g["name"] as string }, data: generatedData(dir, g, true) });
  }

  for (const p of (k["patches"] ?? []) as Json[]) {
    if (typeof p["path"] !== "string" || Object.keys(p).length !== 1) throw new Error(`${dir}: only { path } patches are supported`);
    for (const patch of parseYamlDocuments(readFileSync(path.resolve(dir, p["path"]), "utf8")) as K8sObject[]) {
      const i = objects.findIndex((o) => o.kind === patch.kind && o.metadata.name === patch.metadata.name);
      if (i === -1) throw new Error(`${dir}: patch for ${patch.kind}/${patch.metadata.name} matches nothing`);
      objects[i] = strategicMerge(objects[i], patch) as K8sObject;
    }
  }

  for (const image of (k["images"] ?? []) as Json[]) {
    for (const o of objects) for (const c of podContainers(o)) c["image"] = retag(c["image"] as string, image);
  }

  const namespace = k["namespace"];
  if (typeof namespace === "string") {
    for (const o of objects) if (!CLUSTER_SCOPED.has(o.kind)) o.metadata = { ...o.metadata, namespace };
  }
  return objects;
}

/** The containers (init containers included) of a workload's pod template. */
export function podContainers(o: K8sObject): Json[] {
  const pod = ((o["spec"] as Json | undefined)?.["template"] as Json | undefined)?.["spec"] as Json | undefined;
  return [...((pod?.["initContainers"] ?? []) as Json[]), ...((pod?.["containers"] ?? []) as Json[])];
}

function generatedData(dir: string, g: Json, base64: boolean): Record<string, string> {
  const data: Record<string, string> = {};
  for (const f of (g["files"] ?? []) as string[]) {
    const [key, file] = f.includes("=") ? (f.split("=", 2) as [string, string]) : [path.basename(f), f];
    data[key] = readFileSync(path.resolve(dir, file), "utf8");
  }
  for (const l of (g["literals"] ?? []) as string[]) {
    const at = l.indexOf("=");
    data[l.slice(0, at)] = l.slice(at + 1);
  }
  if (base64) for (const key of Object.keys(data)) data[key] = Buffer.from(data[key] as string).toString("base64");
  return data;
}

function retag(image: string, rule: Json): string {
  const at = image.lastIndexOf(":");
  const [name, tag] = at > image.lastIndexOf("/") ? [image.slice(0, at), image.slice(at + 1)] : [image, undefined];
  if (name !== rule["name"]) return image;
  const newTag = (rule["newTag"] as string | undefined) ?? tag;
  return `${(rule["newName"] as string | undefined) ?? name}${newTag === undefined ? "" : `:${newTag}`}`;
}

// Lists of objects merge by these keys, as the Kubernetes strategic merge patch does for the fields used here.
const MERGE_KEYS = ["name", "mountPath", "containerPort"];

/** A strategic merge patch: maps merge deeply, lists of keyed objects merge by key, other lists are replaced. */
function strategicMerge(base: unknown, patch: unknown): unknown {
  if (Array.isArray(patch)) {
    const key = MERGE_KEYS.find((k) => patch.every((p) => isObject(p) && k in p));
    if (!Array.isArray(base) || key === undefined) return patch;
    const merged = [...base];
    const added: Json[] = [];
    for (const p of patch as Json[]) {
      if ("$patch" in p) throw new Error("$patch directives are not supported by the test renderer");
      const i = merged.findIndex((b) => isObject(b) && b[key] === p[key]);
      if (i === -1) added.push(p);
      else merged[i] = strategicMerge(merged[i], p);
    }
    // kustomize puts the items a patch adds before the existing ones.
    return [...added, ...merged];
  }
  if (!isObject(patch) || !isObject(base)) return patch;
  const merged: Json = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete merged[k];
    else merged[k] = k in base ? strategicMerge(base[k], v) : v;
  }
  return merged;
}

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
