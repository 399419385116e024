// Original file: ../../proto/luthien/policy/v1/policy.proto

import type { RequestVerdict as _luthien_policy_v1_RequestVerdict, RequestVerdict__Output as _luthien_policy_v1_RequestVerdict__Output } from '../../../luthien/policy/v1/RequestVerdict';
import type { ResponseVerdict as _luthien_policy_v1_ResponseVerdict, ResponseVerdict__Output as _luthien_policy_v1_ResponseVerdict__Output } from '../../../luthien/policy/v1/ResponseVerdict';
import type { Emit as _luthien_policy_v1_Emit, Emit__Output as _luthien_policy_v1_Emit__Output } from '../../../luthien/policy/v1/Emit';
import type { Finish as _luthien_policy_v1_Finish, Finish__Output as _luthien_policy_v1_Finish__Output } from '../../../luthien/policy/v1/Finish';
import type { Keepalive as _luthien_policy_v1_Keepalive, Keepalive__Output as _luthien_policy_v1_Keepalive__Output } from '../../../luthien/policy/v1/Keepalive';
import type { EngineError as _luthien_policy_v1_EngineError, EngineError__Output as _luthien_policy_v1_EngineError__Output } from '../../../luthien/policy/v1/EngineError';
import type { Long } from '@grpc/proto-loader';

export interface EngineMessage {
  'callId'?: (string);
  'replyTo'?: (number | string | Long);
  'request'?: (_luthien_policy_v1_RequestVerdict | null);
  'response'?: (_luthien_policy_v1_ResponseVerdict | null);
  'emit'?: (_luthien_policy_v1_Emit | null);
  'finish'?: (_luthien_policy_v1_Finish | null);
  'keepalive'?: (_luthien_policy_v1_Keepalive | null);
  'error'?: (_luthien_policy_v1_EngineError | null);
  'kind'?: "request"|"response"|"emit"|"finish"|"keepalive"|"error";
}

export interface EngineMessage__Output {
  'callId': (string);
  'replyTo': (string);
  'request'?: (_luthien_policy_v1_RequestVerdict__Output | null);
  'response'?: (_luthien_policy_v1_ResponseVerdict__Output | null);
  'emit'?: (_luthien_policy_v1_Emit__Output | null);
  'finish'?: (_luthien_policy_v1_Finish__Output | null);
  'keepalive'?: (_luthien_policy_v1_Keepalive__Output | null);
  'error'?: (_luthien_policy_v1_EngineError__Output | null);
  'kind'?: "request"|"response"|"emit"|"finish"|"keepalive"|"error";
}
