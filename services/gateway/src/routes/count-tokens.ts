import type { Request, Response } from "express";
import { createCallActivity } from "../activity";
import { anthropicApi } from "../formats/client-api";
import type { EnginePools } from "../engine/engine-pool";
import { checkModelScope, engineSelectorOf } from "../identity/scopes";
import { callLocals } from "../locals";
import { InvalidRequestError, PolicyDeniedError, servableWithoutPolicy, toHttpError } from "../errors";
import { forwardToProvider, type PassthroughOptions } from "./passthrough";

export const COUNT_TOKENS_ROUTE = "/v1/messages/count_tokens";

export interface CountTokensOptions extends PassthroughOptions {
  engines: EnginePools;
}

/**
 * `POST /v1/messages/count_tokens`: the request carries a whole prompt, so it passes the request phase like a
 * Messages call (format ANTHROPIC_MESSAGES, route `/v1/messages/count_tokens`). Continue → the (possibly rewritten)
 * request is counted by the model's Anthropic-format provider; deny → an Anthropic error and nothing reaches the
 * provider; respond → refused too, since the policies would not have let the request reach the provider either.
 */
export function createCountTokensHandler(options: CountTokensOptions) {
  return async (req: Request, res: Response): Promise<void> => {
    const callId = res.locals.call.id;
    const auth = callLocals(res).auth;
    const body = req.body as unknown;
    // The Messages shape without max_tokens, which counting does not take.
    const { model } = anthropicApi.validate({ max_tokens: 1, ...(typeof body === "object" && body !== null ? body : {}) });
    const request = body as Record<string, unknown>;
    // Counting asks for no output: only the model scope applies.
    checkModelScope(auth, model);
    const provider = options.routing.resolve(model);
    if (provider === undefined) throw new InvalidRequestError(`no provider is configured for model ${JSON.stringify(model)}`);
    if (provider.format !== "anthropic") throw new InvalidRequestError(`token counting is not available for ${JSON.stringify(model)}: its provider does not speak the Anthropic format`);
    const { userId, sessionId } = anthropicApi.identity(request, req);
    const activity = createCallActivity({ sink: options.activity, callId, format: "anthropic", chunkEvents: false, startedAt: res.locals.call.receivedAt });
    activity.started({
      model,
      stream: false,
      route: COUNT_TOKENS_ROUTE,
      keyId: auth.keyId,
      owner: auth.owner,
      userId,
      sessionId,
      format: "anthropic",
      provider: provider.name,
    });
    res.locals.call.started = true;
    activity.requestReceived(request);
    const pool = options.engines.select(engineSelectorOf(auth, model, COUNT_TOKENS_ROUTE));
    const call = pool.open(callId);
    res.on("close", () => call.close("cancel"));
    let status = 200;
    let outcome: "ok" | "denied" | "error" = "ok";
    let failure: { type: string; message: string } | undefined;
    try {
      let sent: object = request;
      try {
        const verdict = await (
          await call.askRequest({
            format: "ANTHROPIC_MESSAGES",
            stream: false,
            keyId: auth.keyId,
            owner: auth.owner,
            userId,
            sessionId,
            route: COUNT_TOKENS_ROUTE,
            requestJson: Buffer.from(JSON.stringify(request)),
            headers: {},
          })
        ).result;
        if (verdict.action === "deny") {
          activity.action("denied");
          throw verdict.error;
        }
        if (verdict.action === "respond") {
          activity.action("responded");
          throw new PolicyDeniedError(403, "permission_error", "a policy answers this request itself, so it is not sent to the provider to be counted");
        }
        if (verdict.requestJson !== undefined) {
          activity.action("request_modified");
          sent = JSON.parse(verdict.requestJson.toString("utf8")) as object;
        }
      } catch (err) {
        if (!servableWithoutPolicy(err, pool.failureMode)) throw err;
        options.metrics.bypassed(err.reason);
        activity.bypassed(err.reason, err.message);
        res.set("x-luthien-policy-bypassed", err.reason);
      } finally {
        call.close("cancel");
      }
      activity.requestSent(sent);
      status = await forwardToProvider({ ...options, req, res, provider, path: COUNT_TOKENS_ROUTE, body: Buffer.from(JSON.stringify(sent)), credential: auth.credential });
    } catch (err) {
      const http = toHttpError(err, { redact: options.secrets.forCaller(auth.credential) });
      status = http.status;
      outcome = err instanceof PolicyDeniedError ? "denied" : "error";
      failure = { type: http.type, message: http.message };
      throw err;
    } finally {
      activity.ended({ status, outcome, ...(failure !== undefined ? { error: failure } : {}) });
    }
  };
}
