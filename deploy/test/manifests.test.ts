import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { checkHealth, createHealthClient } from "../../packages/protocol/src";
import { loadPolicyConfig, parsePolicyConfig, startControlPlane } from "../../services/control-plane/src";
import { readGatewayConfig } from "../../services/gateway/src";
import { podContainers, renderKustomization, type K8sObject } from "./kustomize";
import { defaultPort, serviceFacts, SERVICES, type ServiceFacts, type ServiceName } from "./sources";
import { parseYaml, parseYamlDocuments, REPO } from "./yaml";

type Json = Record<string, unknown>;

const facts = new Map<ServiceName, ServiceFacts>(SERVICES.map((s) => [s, serviceFacts(s)]));
const factsOf = (s: string): ServiceFacts => {
  const f = facts.get(s as ServiceName);
  if (f === undefined) throw new Error(`${s} is not a Luthien service`);
  return f;
};
/** The env variable that sets each service's listening port. */
const PORT_VARIABLE: Record<ServiceName, string> = {
  gateway: "GATEWAY_PORT",
  "control-plane": "CONTROL_PLANE_PORT",
  monitor: "MONITOR_PORT",
  "mock-llm": "MOCK_LLM_PORT",
};
const portOf = (service: ServiceName, env: Record<string, string> = {}): number => Number(env[PORT_VARIABLE[service]] ?? defaultPort(factsOf(service), PORT_VARIABLE[service]));

/** The engine service name the gRPC health probes ask for: `<package>.<service>` of the protocol's proto. */
const ENGINE_HEALTH_SERVICE = (() => {
  const proto = readFileSync(path.join(REPO, "proto/luthien/policy/v1/policy.proto"), "utf8");
  return `${/^package\s+([\w.]+);/m.exec(proto)?.[1]}.${/^service\s+(\w+)/m.exec(proto)?.[1]}`;
})();
const keyIdOf = (key: string): string => `key_${createHash("sha256").update(key).digest("hex").slice(0, 12)}`;
/** The demo client key whose calls the compose stack's gateway sends to the strict engine (README, Deploy). */
const DEMO_STRICT_KEY = "luthien-demo-strict";

/** Env variables a gateway config file makes the gateway read (`apiKeyEnv` of its providers). */
function configEnvReads(gatewayConfigText: string | undefined): string[] {
  const doc = (gatewayConfigText === undefined ? {} : parseYaml(gatewayConfigText)) as { providers?: { apiKeyEnv?: string }[] } | null;
  return (doc?.providers ?? []).flatMap((p) => (p.apiKeyEnv === undefined ? [] : [p.apiKeyEnv]));
}

/** Parses a GATEWAY_CONFIG document with the gateway's own reader. @throws its ConfigError */
function readGatewayFile(text: string, env: Record<string, string> = {}): ReturnType<typeof readGatewayConfig> {
  const file = path.join(mkdtempSync(path.join(tmpdir(), "luthien-deploy-")), "gateway.yaml");
  writeFileSync(file, text);
  return readGatewayConfig({ ...env, GATEWAY_CONFIG: file });
}

function expectEnvRead(service: ServiceName, names: Iterable<string>, extra: string[] = []): void {
  const unread = [...names].filter((n) => !factsOf(service).env.has(n) && !extra.includes(n));
  expect({ service, unread }).toEqual({ service, unread: [] });
}

describe("Dockerfiles", () => {
  const dockerfiles = readdirSync(path.join(REPO, "deploy/docker")).filter((f) => f.endsWith(".Dockerfile"));

  it("exist for every service, and only for services", () => {
    expect(dockerfiles.map((f) => f.replace(/\.Dockerfile$/, "")).sort()).toEqual([...SERVICES].sort());
  });

  describe.each(SERVICES)("%s", (service) => {
    const text = readFileSync(path.join(REPO, "deploy/docker", `${service}.Dockerfile`), "utf8").replace(/\\\n/g, " ");
    const lines = text
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "" && !l.startsWith("#"));
    const f = factsOf(service);
    const copies = lines.filter((l) => l.startsWith("COPY ")).map((l) => l.split(/\s+/).slice(1));
    const fromContext = copies.filter((c) => !c.some((a) => a.startsWith("--from=")));
    const fromBuild = copies.filter((c) => c.includes("--from=build")).map((c) => (c.filter((a) => !a.startsWith("--"))[0] as string).replace(/^\/app\//, ""));
    const manifests = fromContext
      .flatMap((c) => c.slice(0, -1))
      .filter((s) => s.endsWith("/package.json"))
      .map((s) => path.dirname(s));

    it("copies sources that exist in the build context", () => {
      for (const c of fromContext) for (const src of c.slice(0, -1)) expect({ src, exists: existsSync(path.join(REPO, src)) }).toEqual({ src, exists: true });
    });

    it("installs the manifests and ships the compiled output of exactly the workspace packages the service runs with", () => {
      expect(manifests.sort()).toEqual([...f.workspaceDirs].sort());
      const dists = fromBuild.filter((p) => p.endsWith("/dist")).map((p) => path.dirname(p));
      expect(dists.sort()).toEqual([...f.workspaceDirs].sort());
      for (const dir of dists) expect(existsSync(path.join(REPO, dir, "tsconfig.json"))).toBe(true);
      expect(text).toContain(`--filter "@luthien/${service}..."`);
      expect(text).toContain(`tsc -b services/${service}`);
    });

    it("ships every file the compiled code opens next to itself", () => {
      for (const file of f.runtimeFiles) {
        expect(existsSync(path.join(REPO, file))).toBe(true);
        expect({ file, copied: fromBuild.some((p) => file === p || file.startsWith(`${p}/`)) }).toEqual({ file, copied: true });
      }
    });

    it("runs dist/main.js of the service as a non-root user, like its start script", () => {
      const pkg = JSON.parse(readFileSync(path.join(REPO, "services", service, "package.json"), "utf8")) as { scripts: { start: string } };
      expect(pkg.scripts.start).toBe("node dist/main.js");
      expect(existsSync(path.join(REPO, "services", service, "src/main.ts"))).toBe(true);
      expect(lines.filter((l) => l.startsWith("WORKDIR ")).pop()).toBe(`WORKDIR /app/services/${service}`);
      expect(lines.filter((l) => l.startsWith("CMD ")).pop()).toBe('CMD ["node", "dist/main.js"]');
      const user = lines.filter((l) => l.startsWith("USER ")).pop();
      expect(user).toMatch(/^USER [1-9]\d*:[1-9]\d*$/);
    });

    it("pins the pnpm the repository asks for, and exposes the service's port", () => {
      const engines = (JSON.parse(readFileSync(path.join(REPO, "package.json"), "utf8")) as { engines: { pnpm: string } }).engines.pnpm;
      const pinned = /pnpm@(\d+\.\d+\.\d+)/.exec(text)?.[1];
      expect(engines).toContain(`>=${pinned}`);
      const exposed = lines.filter((l) => l.startsWith("EXPOSE ")).flatMap((l) => l.split(/\s+/).slice(1).map(Number));
      expect(exposed).toContain(portOf(service));
      if (service === "control-plane") expect(exposed).toContain(Number(f.env.get("CONTROL_PLANE_METRICS_PORT")));
    });

    it("health-checks a real endpoint of the service", () => {
      const check = lines.find((l) => l.startsWith("HEALTHCHECK "));
      expect(check).toBeDefined();
      expect(check).toContain(`process.env.${PORT_VARIABLE[service]} || ${portOf(service)}`);
      if (service === "control-plane") expect(check).toContain(`'${ENGINE_HEALTH_SERVICE}'`);
      else expect(f.httpGetRoutes).toContain(/\+ '(\/[^']*)'\)/.exec(check ?? "")?.[1]);
    });
  });
});

describe("docker-compose.yml", () => {
  const compose = parseYaml(readFileSync(path.join(REPO, "docker-compose.yml"), "utf8")) as { services: Record<string, Json>; volumes: Json };
  const services = compose.services;
  /** Compose services built from a Luthien Dockerfile, with the service each one runs. */
  const luthien = Object.entries(services).flatMap(([name, s]) => {
    const dockerfile = (s["build"] as Json | undefined)?.["dockerfile"] as string | undefined;
    return dockerfile === undefined ? [] : [{ name, s, service: path.basename(dockerfile, ".Dockerfile") as ServiceName, dockerfile }];
  });
  const envOf = (s: Json): Record<string, string> => Object.fromEntries(Object.entries((s["environment"] ?? {}) as Json).map(([k, v]) => [k, String(v)]));
  /** `${VAR:-default}` and `${VAR-default}` → default, as compose substitutes with nothing set. */
  const substitute = (v: string): string => v.replace(/\$\{[A-Z_]+:?-([^}]*)\}/g, "$1");
  /** The host file behind a container path, through the service's bind mounts. */
  const hostPath = (s: Json, containerPath: string): string | undefined => {
    for (const v of (s["volumes"] ?? []) as string[]) {
      const [src, dst] = v.split(":") as [string, string];
      if (!src.startsWith(".")) continue;
      if (containerPath === dst) return path.join(REPO, src);
      if (containerPath.startsWith(`${dst}/`)) return path.join(REPO, src, containerPath.slice(dst.length + 1));
    }
    return undefined;
  };

  it("runs every service, two engines, and the infrastructure", () => {
    expect(luthien.map((l) => l.service).sort()).toEqual(["control-plane", "control-plane", "gateway", "mock-llm", "monitor"]);
    for (const l of luthien) expect(existsSync(path.join(REPO, l.dockerfile))).toBe(true);
    expect(Object.keys(services)).toEqual(expect.arrayContaining(["nats", "postgres", "control-plane", "control-plane-strict"]));
    expect(services["mock-llm"]?.["profiles"]).toEqual(["demo"]);
  });

  it("sets only env variables the services read", () => {
    const gatewayConfig = hostPath(services["gateway"] as Json, envOf(services["gateway"] as Json)["GATEWAY_CONFIG"] ?? "");
    for (const l of luthien) {
      const extra = l.service === "gateway" && gatewayConfig !== undefined ? configEnvReads(readFileSync(gatewayConfig, "utf8")) : [];
      expectEnvRead(l.service, Object.keys(envOf(l.s)), extra);
    }
  });

  it("publishes the same ports as `pnpm start`, at the ports the services listen on", () => {
    const published = Object.fromEntries(luthien.filter((l) => l.s["ports"] !== undefined).map((l) => [l.name, (l.s["ports"] as string[]).map((p) => p.split(":").map(Number))]));
    expect(published).toEqual({
      "control-plane": [[50051, portOf("control-plane", envOf(services["control-plane"] as Json))]],
      gateway: [[8000, portOf("gateway", envOf(services["gateway"] as Json))]],
      monitor: [[8001, portOf("monitor", envOf(services["monitor"] as Json))]],
    });
  });

  it("starts services only after the health of what they need", () => {
    for (const [name, s] of Object.entries(services)) {
      for (const [dep, cond] of Object.entries((s["depends_on"] ?? {}) as Record<string, Json>)) {
        const target = services[dep];
        expect({ name, dep, exists: target !== undefined }).toEqual({ name, dep, exists: true });
        expect(cond["condition"]).toBe("service_healthy");
        const built = luthien.find((l) => l.name === dep);
        const hasCheck = target?.["healthcheck"] !== undefined || (built !== undefined && readFileSync(path.join(REPO, built.dockerfile), "utf8").includes("HEALTHCHECK"));
        expect({ dep, hasCheck }).toEqual({ dep, hasCheck: true });
        // A service outside the default profile must not block `docker compose up` without it.
        if (target?.["profiles"] !== undefined) expect(cond["required"]).toBe(false);
      }
    }
  });

  it("mounts policy files the control plane's own parser accepts, as a directory it can watch", () => {
    for (const name of ["control-plane", "control-plane-strict"]) {
      const s = services[name] as Json;
      const file = envOf(s)["POLICY_CONFIG"] as string;
      const host = hostPath(s, file);
      expect(host).toBeDefined();
      // A single-file bind mount would pin the old inode when an editor replaces the file.
      expect(((s["volumes"] ?? []) as string[]).some((v) => v.split(":")[1] === path.dirname(file))).toBe(true);
      expect(() => loadPolicyConfig(host as string)).not.toThrow();
    }
    const strict = loadPolicyConfig(hostPath(services["control-plane-strict"] as Json, envOf(services["control-plane-strict"] as Json)["POLICY_CONFIG"] as string) as string);
    expect(strict.policies.map((p) => p.name)).toEqual(expect.arrayContaining(["dangerous-commands", "sql-guard", "secret-redaction"]));
  });

  it("gives the gateway engine pools that name the compose engines, and routes the demo key to the strict one", () => {
    const s = services["gateway"] as Json;
    const env = envOf(s);
    const host = hostPath(s, env["GATEWAY_CONFIG"] as string) as string;
    const config = readGatewayFile(readFileSync(host, "utf8"));
    const engineTargets = [...config.routing.engines.values()].flatMap((p) => p.targets);
    for (const t of engineTargets) {
      const [hostName, port] = t.replace(/^dns:\/\/\//, "").split(":") as [string, string];
      expect(luthien.find((l) => l.name === hostName)?.service).toBe("control-plane");
      expect(Number(port)).toBe(portOf("control-plane", envOf(services[hostName] as Json)));
    }
    const pool = (keyId: string): string => config.routing.resolveEngine({ keyId, model: "gpt-4o-mini", route: "/v1/chat/completions" }).name;
    expect(pool(keyIdOf(DEMO_STRICT_KEY))).toBe("strict");
    expect(config.routing.engines.get("strict")?.targets).toEqual([`control-plane-strict:${portOf("control-plane")}`]);
    expect(pool(keyIdOf("any other key"))).toBe("default");
    // Auth is closed by default: the demo keys are the gateway's keys unless .env sets its own.
    expect(substitute(env["GATEWAY_API_KEYS"] as string).split(",")).toEqual(expect.arrayContaining([DEMO_STRICT_KEY, "luthien-demo-key"]));
  });

  it("points the gateway at mock-llm by default, and the demo profile runs it", () => {
    const env = envOf(services["gateway"] as Json);
    const mockPort = portOf("mock-llm", envOf(services["mock-llm"] as Json));
    expect(substitute(env["OPENAI_UPSTREAM_URL"] as string)).toBe(`http://mock-llm:${mockPort}/v1`);
    expect(substitute(env["ANTHROPIC_UPSTREAM_URL"] as string)).toBe(`http://mock-llm:${mockPort}`);
    // Its own default binds loopback only; the image must override it.
    expect(factsOf("mock-llm").env.get("MOCK_LLM_HOST")).toBe("127.0.0.1");
    expect(readFileSync(path.join(REPO, "deploy/docker/mock-llm.Dockerfile"), "utf8")).toContain("ENV MOCK_LLM_HOST=0.0.0.0");
  });

  it("wires NATS (JetStream, 8 MB payloads) and PostgreSQL the services can reach", () => {
    const nats = services["nats"] as Json;
    const conf = readFileSync(hostPath(nats, (nats["command"] as string[]).at(-1) as string) as string, "utf8");
    expect(conf).toMatch(/^max_payload:\s*8MB$/m);
    expect(conf).toMatch(/^jetstream\s*\{/m);
    const natsPort = /^port:\s*(\d+)/m.exec(conf)?.[1];
    for (const l of luthien.filter((x) => x.service !== "mock-llm")) expect(envOf(l.s)["NATS_URL"]).toBe(`nats://nats:${natsPort}`);
    expect((nats["volumes"] as string[]).some((v) => v.startsWith("nats-data:"))).toBe(true);
    expect((compose.volumes as Json)["nats-data"]).toBeDefined();

    const pg = services["postgres"] as Json;
    const pgEnv = envOf(pg);
    const url = new URL(substitute(envOf(services["monitor"] as Json)["DATABASE_URL"] as string));
    expect([url.hostname, url.port, url.username, url.password, url.pathname]).toEqual([
      "postgres",
      "5432",
      pgEnv["POSTGRES_USER"],
      substitute(pgEnv["POSTGRES_PASSWORD"] as string),
      `/${pgEnv["POSTGRES_DB"]}`,
    ]);
    expect((pg["volumes"] as string[]).some((v) => v.startsWith("postgres-data:"))).toBe(true);
  });
});

describe("config files", () => {
  const policyFiles = [...readdirSync(path.join(REPO, "deploy/config/policies")).map((f) => `deploy/config/policies/${f}`), "deploy/k8s/base/config/policies.yaml"];

  it.each(policyFiles)("%s parses with the control plane's config parser", (file) => {
    expect(loadPolicyConfig(path.join(REPO, file)).policies.length).toBeGreaterThan(0);
  });

  it.each(["deploy/config/gateway.yaml", "deploy/k8s/base/config/gateway.yaml"])("%s parses with the gateway's config reader", (file) => {
    expect(() => readGatewayFile(readFileSync(path.join(REPO, file), "utf8"))).not.toThrow();
  });

  it("sets max_payload 8MB and JetStream in every NATS configuration", () => {
    for (const file of ["deploy/config/nats.conf", "deploy/k8s/overlays/dev/nats.conf"]) {
      const conf = readFileSync(path.join(REPO, file), "utf8");
      expect(conf).toMatch(/^max_payload:\s*8MB$/m);
      expect(conf).toMatch(/^jetstream\s*\{/m);
    }
    const chart = parseYaml(readFileSync(path.join(REPO, "deploy/k8s/charts/nats-values.yaml"), "utf8")) as { config: Json };
    expect((chart.config["jetstream"] as Json)["enabled"]).toBe(true);
    expect((chart.config["merge"] as Json)["max_payload"]).toBe("<< 8MB >>");
  });
});

describe("README", () => {
  it("names every env variable the services read (the operator contract or the Deploy section)", () => {
    const readme = readFileSync(path.join(REPO, "README.md"), "utf8");
    const undocumented = SERVICES.flatMap((s) => [...factsOf(s).env.keys()].filter((name) => !readme.includes(`\`${name}\``)).map((name) => `${s}: ${name}`));
    expect(undocumented).toEqual([]);
  });
});

describe("the engine's health service", () => {
  it("answers SERVING for the service name the probes ask for", async () => {
    const plane = await startControlPlane({
      config: () => parsePolicyConfig(""),
      logger: { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined, notice: () => undefined },
      host: "127.0.0.1",
      port: 0,
    });
    const client = createHealthClient(`127.0.0.1:${plane.port}`);
    try {
      expect(await checkHealth(client, ENGINE_HEALTH_SERVICE, 2000)).toBe(true);
      expect(await checkHealth(client, `${ENGINE_HEALTH_SERVICE}.Typo`, 2000)).toBe(false);
    } finally {
      client.close();
      await plane.stop(0);
    }
  });
});

describe.each(["dev", "prod"])("Kubernetes overlay %s", (overlay) => {
  const dir = path.join(REPO, "deploy/k8s/overlays", overlay);
  const objects = renderKustomization(dir);
  const find = (kind: string, name: string): K8sObject | undefined => objects.find((o) => o.kind === kind && o.metadata.name === name);
  const workloads = objects.filter((o) => o.kind === "Deployment" || o.kind === "StatefulSet");
  const podSpec = (o: K8sObject): Json => ((o["spec"] as Json)["template"] as Json)["spec"] as Json;
  const podLabels = (o: K8sObject): Json => (((o["spec"] as Json)["template"] as Json)["metadata"] as Json)["labels"] as Json;
  /** Luthien containers: named after the service they run. */
  const luthien = workloads.flatMap((w) =>
    podContainers(w)
      .filter((c) => (SERVICES as readonly string[]).includes(c["name"] as string))
      .map((c) => ({ w, c, service: c["name"] as ServiceName })),
  );
  const envOf = (c: Json): Record<string, string> =>
    Object.fromEntries(((c["env"] ?? []) as Json[]).filter((e) => typeof e["value"] === "string").map((e) => [e["name"] as string, e["value"] as string]));
  const configMapData = (name: string): Record<string, string> => {
    const cm = find("ConfigMap", name);
    expect({ configMap: name, exists: cm !== undefined }).toEqual({ configMap: name, exists: true });
    return (cm?.["data"] ?? {}) as Record<string, string>;
  };
  /** The ConfigMap content behind a file path in a container, through its directory-mounted ConfigMap volumes. */
  const mountedFile = (w: K8sObject, c: Json, file: string): string => {
    const mount = ((c["volumeMounts"] ?? []) as Json[]).find((m) => path.dirname(file) === m["mountPath"]);
    expect({ file, mounted: mount !== undefined && mount["subPath"] === undefined }).toEqual({ file, mounted: true });
    const volume = ((podSpec(w)["volumes"] ?? []) as Json[]).find((v) => v["name"] === mount?.["name"]);
    const data = configMapData((volume?.["configMap"] as Json)["name"] as string);
    expect(Object.keys(data)).toContain(path.basename(file));
    return data[path.basename(file)] as string;
  };

  it("renders exactly what kubectl kustomize renders (when kubectl is installed)", () => {
    const kubectl = spawnSync("kubectl", ["kustomize", dir], { encoding: "utf8" });
    if (kubectl.error !== undefined) return; // No kubectl here: the renderer's own checks stand alone.
    expect(kubectl.status).toBe(0);
    const key = (o: K8sObject): string => `${o.kind}/${o.metadata.name}`;
    const theirs = (parseYamlDocuments(kubectl.stdout) as K8sObject[]).sort((a, b) => key(a).localeCompare(key(b)));
    // kubectl folds long base64 values over several lines.
    for (const o of theirs) if (o.kind === "Secret") o["data"] = Object.fromEntries(Object.entries(o["data"] as Json).map(([k, v]) => [k, String(v).replace(/\s/g, "")]));
    expect([...objects].sort((a, b) => key(a).localeCompare(key(b)))).toEqual(theirs);
  });

  it("has a Deployment and a Service for the gateway, the control plane and the monitor", () => {
    for (const name of ["gateway", "control-plane", "monitor"]) {
      expect(find("Deployment", name)).toBeDefined();
      expect(find("Service", name)).toBeDefined();
    }
  });

  it("gives every container liveness and readiness probes, resource requests and a memory limit", () => {
    for (const w of workloads) {
      for (const c of podContainers(w)) {
        const r = (c["resources"] ?? {}) as { requests?: Json; limits?: Json };
        expect({ container: c["name"], liveness: c["livenessProbe"] !== undefined, readiness: c["readinessProbe"] !== undefined }).toEqual({
          container: c["name"],
          liveness: true,
          readiness: true,
        });
        expect({ container: c["name"], cpu: r.requests?.["cpu"] !== undefined, memory: r.requests?.["memory"] !== undefined, limit: r.limits?.["memory"] !== undefined }).toEqual({
          container: c["name"],
          cpu: true,
          memory: true,
          limit: true,
        });
      }
    }
  });

  it("sets only env variables the services read", () => {
    for (const { w, c, service } of luthien) {
      const gatewayConfig = envOf(c)["GATEWAY_CONFIG"];
      const extra = gatewayConfig === undefined ? [] : configEnvReads(mountedFile(w, c, gatewayConfig));
      expectEnvRead(
        service,
        ((c["env"] ?? []) as Json[]).map((e) => e["name"] as string),
        extra,
      );
    }
  });

  it("listens, probes and serves on the ports and routes the services really use", () => {
    for (const { c, service } of luthien) {
      const ports = (c["ports"] ?? []) as Json[];
      const byName = new Map(ports.map((p) => [p["name"] as string, p["containerPort"] as number]));
      expect(byName.get(service === "control-plane" ? "grpc" : "http")).toBe(portOf(service, envOf(c)));
      if (byName.has("metrics")) expect(byName.get("metrics")).toBe(Number(factsOf(service).env.get("CONTROL_PLANE_METRICS_PORT")));
      for (const probe of ["livenessProbe", "readinessProbe"]) {
        const p = c[probe] as Json;
        if (service === "control-plane") {
          expect(p["grpc"]).toEqual({ port: portOf(service, envOf(c)), service: ENGINE_HEALTH_SERVICE });
        } else {
          const get = p["httpGet"] as Json;
          expect(factsOf(service).httpGetRoutes).toContain(get["path"]);
          expect(byName.get(get["port"] as string) ?? get["port"]).toBe(portOf(service, envOf(c)));
        }
      }
      if (service === "gateway" || service === "monitor") {
        expect(((c["livenessProbe"] as Json)["httpGet"] as Json)["path"]).toBe("/health");
        expect(((c["readinessProbe"] as Json)["httpGet"] as Json)["path"]).toBe("/ready");
      }
    }
  });

  it("routes every Service to named container ports of the pods it selects", () => {
    for (const svc of objects.filter((o) => o.kind === "Service")) {
      const spec = svc["spec"] as Json;
      const selector = spec["selector"] as Json;
      const pods = workloads.filter((w) => Object.entries(selector).every(([k, v]) => podLabels(w)[k] === v));
      expect({ service: svc.metadata.name, pods: pods.length > 0 }).toEqual({ service: svc.metadata.name, pods: true });
      for (const port of spec["ports"] as Json[]) {
        for (const pod of pods) {
          const names = podContainers(pod).flatMap((c) => ((c["ports"] ?? []) as Json[]).map((p) => p["name"]));
          expect(names).toContain(port["targetPort"]);
        }
      }
    }
  });

  it("balances the gateways over every engine replica through a headless Service", () => {
    const gateway = luthien.find((l) => l.service === "gateway");
    const text = mountedFile(gateway!.w, gateway!.c, envOf(gateway!.c)["GATEWAY_CONFIG"] as string);
    const targets = [...readGatewayFile(text).routing.engines.values()].flatMap((p) => p.targets);
    expect(targets.length).toBeGreaterThan(0);
    for (const t of targets) {
      const m = /^dns:\/\/\/([\w-]+):(\d+)$/.exec(t);
      expect(m).not.toBeNull();
      const svc = find("Service", m![1] as string);
      expect((svc?.["spec"] as Json)["clusterIP"]).toBe("None");
      expect(((svc?.["spec"] as Json)["ports"] as Json[]).map((p) => p["port"])).toContain(Number(m![2]));
      const selector = (svc?.["spec"] as Json)["selector"] as Json;
      const engineLabels = podLabels(find("Deployment", "control-plane")!);
      expect(Object.entries(selector).every(([k, v]) => engineLabels[k] === v)).toBe(true);
    }
  });

  it("mounts the policies as a watched ConfigMap directory the control plane's parser accepts", () => {
    const engine = luthien.find((l) => l.service === "control-plane")!;
    const text = mountedFile(engine.w, engine.c, envOf(engine.c)["POLICY_CONFIG"] as string);
    expect(() => parsePolicyConfig(text)).not.toThrow();
  });

  it("keeps the engines available through disruptions and scales gateway and engine", () => {
    const pdb = find("PodDisruptionBudget", "control-plane");
    const selector = ((pdb?.["spec"] as Json)["selector"] as Json)["matchLabels"] as Json;
    expect(Object.entries(selector).every(([k, v]) => podLabels(find("Deployment", "control-plane")!)[k] === v)).toBe(true);
    for (const name of ["gateway", "control-plane"]) {
      const hpa = find("HorizontalPodAutoscaler", name)?.["spec"] as Json;
      expect(hpa["scaleTargetRef"]).toEqual({ apiVersion: "apps/v1", kind: "Deployment", name });
      expect(hpa["minReplicas"] as number).toBeLessThanOrEqual(hpa["maxReplicas"] as number);
    }
  });

  it("gives pods enough time to finish in-flight calls on shutdown", () => {
    const preStopMs = (c: Json): number => {
      const cmd = ((((c["lifecycle"] as Json | undefined)?.["preStop"] as Json | undefined)?.["exec"] as Json | undefined)?.["command"] ?? []) as string[];
      return cmd[0] === "sleep" ? Number(cmd[1]) * 1000 : 0;
    };
    const engine = luthien.find((l) => l.service === "control-plane")!;
    const gateway = luthien.find((l) => l.service === "gateway")!;
    const engineGraceMs = Number(envOf(engine.c)["CONTROL_PLANE_SHUTDOWN_GRACE_MS"] ?? factsOf("control-plane").env.get("CONTROL_PLANE_SHUTDOWN_GRACE_MS"));
    const terminationMs = (w: K8sObject): number => Number(podSpec(w)["terminationGracePeriodSeconds"] ?? 30) * 1000;
    // The engine must be allowed its whole shutdown grace after preStop, or the kubelet kills calls it would finish.
    expect(terminationMs(engine.w)).toBeGreaterThan(preStopMs(engine.c) + engineGraceMs);
    // A gateway draining must not cut calls sooner than the engines would finish them.
    expect(terminationMs(gateway.w)).toBeGreaterThan(preStopMs(gateway.c) + engineGraceMs);
    expect(preStopMs(engine.c)).toBeGreaterThan(0);
    expect(preStopMs(gateway.c)).toBeGreaterThan(0);
  });

  it("reads keys from Secrets only", () => {
    const secret = find("Secret", "luthien-secrets");
    const instructions = readFileSync(path.join(dir, "kustomization.yaml"), "utf8");
    for (const { c } of luthien) {
      for (const e of (c["env"] ?? []) as Json[]) {
        if (/KEY|DATABASE_URL/.test(e["name"] as string)) expect({ env: e["name"], fromSecret: e["value"] === undefined }).toEqual({ env: e["name"], fromSecret: true });
        const ref = (e["valueFrom"] as Json | undefined)?.["secretKeyRef"] as Json | undefined;
        if (ref === undefined) continue;
        expect(ref["name"]).toBe("luthien-secrets");
        if (ref["optional"] === true) continue;
        // Generated in dev; created by the operator in production, as the overlay's instructions say.
        if (secret !== undefined) expect(Object.keys(secret["data"] as Json)).toContain(ref["key"]);
        else expect(instructions).toContain(`--from-literal=${ref["key"] as string}=`);
      }
    }
  });

  if (overlay === "dev") {
    it("runs NATS and PostgreSQL in the cluster where the services look for them", () => {
      const natsUrl = new URL(envOf(luthien.find((l) => l.service === "gateway")!.c)["NATS_URL"] as string);
      const natsService = find("Service", natsUrl.hostname)?.["spec"] as Json;
      expect((natsService["ports"] as Json[]).map((p) => p["port"])).toContain(Number(natsUrl.port));
      expect(find("StatefulSet", "nats")).toBeDefined();
      expect(configMapData("nats-config")["nats.conf"]).toMatch(/^max_payload:\s*8MB$/m);

      const secretData = find("Secret", "luthien-secrets")?.["data"] as Record<string, string>;
      const db = new URL(Buffer.from(secretData["DATABASE_URL"] as string, "base64").toString());
      const pg = find("StatefulSet", "postgres")!;
      const pgEnv = envOf(podContainers(pg)[0] as Json);
      expect([db.hostname, db.port, db.username, db.pathname]).toEqual(["postgres", "5432", pgEnv["POSTGRES_USER"], `/${pgEnv["POSTGRES_DB"]}`]);
      expect(db.password).toBe(Buffer.from(secretData["POSTGRES_PASSWORD"] as string, "base64").toString());
      expect(find("Service", "postgres")).toBeDefined();
    });

    it("uses the images docker compose builds", () => {
      const compose = readFileSync(path.join(REPO, "docker-compose.yml"), "utf8");
      for (const { c } of luthien) expect(compose).toContain(`image: ${c["image"] as string}`);
    });
  }
});
