import fc from "fast-check";
import { classifyPassthrough, DECIDED_ROUTES, decidedRouteMatching, normalisePath } from "../src/routes/route-classes";

/**
 * The route classes by construction: whatever disguise a path wears (dot segments, encoded dots and slashes,
 * backslashes, doubled slashes, case, a trailing slash), one that resolves onto a decided endpoint is never passed
 * through, not even where an operator opted a prefix in.
 */
const UNCHECKED = [
  { path: "/v1/files*", methods: [] },
  { path: "/v1/embeddings", methods: ["POST"] },
];

/** Ways to write one separator or one segment so that a provider resolves it the same. */
const separator = fc.constantFrom("/", "//", "\\", "%2f", "%2F", "/./", "/%2e/", "/x/../", "/files/../", "/models/%2e%2e/", "/a/b/..%2f..%2f", "%5c");
const casing = (s: string, flips: boolean[]): string => [...s].map((c, i) => (flips[i % flips.length] === true ? c.toUpperCase() : c)).join("");

function disguise(path: string): fc.Arbitrary<string> {
  const segments = path.split("/").filter((s) => s !== "");
  return fc
    .tuple(fc.array(separator, { minLength: segments.length, maxLength: segments.length }), fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }), fc.boolean())
    .map(([seps, flips, trailing]) => segments.map((s, i) => `${seps[i] ?? "/"}${casing(s, flips)}`).join("") + (trailing ? "/" : ""))
    .map((p) => (p.startsWith("/") ? p : `/${p}`));
}

describe("route classes", () => {
  it("normalises the way a provider resolves paths", () => {
    expect(normalisePath("/v1/x/../chat/completions")).toBe("/v1/chat/completions");
    expect(normalisePath("/v1/%2e%2e/v1/messages")).toBe("/v1/messages");
    expect(normalisePath("/v1\\messages")).toBe("/v1/messages");
    expect(normalisePath("/v1//models/")).toBe("/v1/models");
    expect(normalisePath("/v1/chat%2Fcompletions")).toBe("/v1/chat/completions");
    // Climbing above the root, double encoding, control characters and broken escapes do not normalise.
    for (const bad of ["/v1/../../etc", "/v1/%252e%252e/messages", "/v1/%00/messages", "/v1/%ZZ", "/v1/%"]) expect(normalisePath(bad)).toBeUndefined();
  });

  it("never passes through a disguised decided endpoint, whatever the method", () => {
    let tried = 0;
    for (const route of DECIDED_ROUTES) {
      fc.assert(
        fc.property(disguise(route.path), fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"), (path, method) => {
          tried++;
          expect(classifyPassthrough(method, normalisePath(path), UNCHECKED).kind).toBe("refused");
        }),
        { numRuns: 300 },
      );
    }
    expect(tried).toBe(DECIDED_ROUTES.length * 300);
  });

  it("keeps model lists harmless and everything else refused unless opted in", () => {
    expect(classifyPassthrough("GET", "/v1/models", []).kind).toBe("harmless");
    expect(classifyPassthrough("GET", "/v1/models/gpt-4o", []).kind).toBe("harmless");
    // One segment: what lies below a model is not a model list.
    expect(classifyPassthrough("GET", "/v1/models/gpt-4o/anything", []).kind).toBe("refused");
    expect(classifyPassthrough("GET", "/v1/models/", []).kind).toBe("refused");
    expect(classifyPassthrough("POST", "/v1/models", []).kind).toBe("refused");
    for (const path of [
      "/v1/completions",
      "/v1/embeddings",
      "/v1/messages/batches",
      "/v1/assistants",
      "/v1/threads/runs",
      "/v1/responses/resp_1",
      "/v1/responses/resp_1/input_items",
      "/v1/files",
      "/v1/batches",
    ]) {
      expect(classifyPassthrough("POST", path, []).kind).toBe("refused");
      expect(classifyPassthrough("GET", path, []).kind).toBe("refused");
    }
    expect(classifyPassthrough("POST", "/v1/embeddings", UNCHECKED).kind).toBe("unchecked");
    expect(classifyPassthrough("GET", "/v1/embeddings", UNCHECKED).kind).toBe("refused");
    expect(classifyPassthrough("DELETE", "/v1/files/file_1", UNCHECKED).kind).toBe("unchecked");
  });

  it("refuses an unchecked route that would cover a decided one", () => {
    expect(decidedRouteMatching({ path: "/v1/*", methods: [] })).toBe("POST /v1/chat/completions");
    expect(decidedRouteMatching({ path: "/v1/messages*", methods: [] })).toBe("POST /v1/messages");
    expect(decidedRouteMatching({ path: "/V1/RESPONSES", methods: ["POST"] })).toBe("POST /v1/responses");
    expect(decidedRouteMatching({ path: "/v1/messages*", methods: ["GET"] })).toBeUndefined();
    expect(decidedRouteMatching({ path: "/v1/messages/batches*", methods: [] })).toBeUndefined();
  });
});
