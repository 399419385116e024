import type { Response } from "express";
import type { CallAuth } from "./identity/auth";
import type { ClientApi } from "./formats/client-api";
import type { JsonBody } from "./formats/json-body";
import { NO_TRACE, type CallTrace } from "./tracing";

/** What the gateway knows of a request as it passes the middleware, in `res.locals.call`. */
export interface CallLocals {
  /** The call id (`x-luthien-call-id`). */
  readonly id: string;
  /** `Date.now()` when the request arrived. */
  readonly receivedAt: number;
  /** The client API whose format errors are rendered in: the route's, or a guess from the path until routed. */
  api: ClientApi;
  /** Who is calling; set by the auth middleware. */
  auth: CallAuth | undefined;
  /** The call's spans (a no-op trace when tracing is off). */
  trace: CallTrace;
  /** The request body as read: its bytes and their parse. */
  body: JsonBody | undefined;
  /** The call began (its `call.started` is out): from here on it answers and reports itself. */
  started: boolean;
  /** The limit store failed and the call was let through unchecked (LIMITS_ON_STORE_ERROR=allow). */
  limitsUnchecked: boolean;
}

declare global {
  // Express's own extension point for typed `res.locals`.
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Locals {
      call: CallLocals;
    }
  }
}

/** Fresh per-request state; `api` is the best guess until the route sets its own. */
export function initCallLocals(res: Response, id: string, api: ClientApi): CallLocals {
  const locals: CallLocals = { id, receivedAt: Date.now(), api, auth: undefined, trace: NO_TRACE, body: undefined, started: false, limitsUnchecked: false };
  res.locals.call = locals;
  return locals;
}

export function callLocals(res: Response): CallLocals & { auth: CallAuth } {
  const locals = res.locals.call;
  // Handlers of authenticated routes run after the auth middleware; anything else is a wiring bug.
  if (locals.auth === undefined) throw new Error("call handler mounted without authentication");
  return locals as CallLocals & { auth: CallAuth };
}
