import { outputTextOf, type ResponsesResponse } from "@luthien/wire";
import type { PolicyEvent, PolicyResponse } from "./policy";

/**
 * Fields a response carries that are derived from others must say what those say once the policies are done:
 * a Responses body may carry `output_text` (the SDK keeps one that came on the wire), and a provider could put text
 * there that no policy looked at, since policies read and rewrite the output items. Recomputed wherever present.
 */
function withOutputText(body: ResponsesResponse): ResponsesResponse {
  const current = (body as { output_text?: unknown }).output_text;
  if (current === undefined) return body;
  const derived = outputTextOf(body.output);
  return current === derived ? body : { ...body, output_text: derived };
}

export function derivedResponse(response: PolicyResponse): PolicyResponse {
  if (response.format !== "responses") return response;
  const body = withOutputText(response.body);
  return body === response.body ? response : { format: "responses", body };
}

export function derivedEvent(event: PolicyEvent): PolicyEvent {
  if (event.format !== "responses" || !("response" in event.event)) return event;
  const e = event.event;
  const body = withOutputText(e.response);
  return body === e.response ? event : { format: "responses", event: { ...e, response: body } as typeof e };
}
