import type {
  Response,
  ResponseCreateParams,
  ResponseInputItem,
  ResponseOutputItem,
  ResponseStreamEvent,
} from "openai/resources/responses/responses";

/**
 * The OpenAI Responses API (`POST /v1/responses`), the third client format. Types are the official SDK's; the
 * aliases keep `Response` from meaning an HTTP response everywhere else.
 */
export type ResponsesRequest = ResponseCreateParams;
export type ResponsesResponse = Response;
export type ResponsesStreamEvent = ResponseStreamEvent;
export type ResponsesInputItem = ResponseInputItem;
export type ResponsesOutputItem = ResponseOutputItem;
