// Original file: ../../proto/luthien/policy/v1/policy.proto

import type { Start as _luthien_policy_v1_Start, Start__Output as _luthien_policy_v1_Start__Output } from '../../../luthien/policy/v1/Start';
import type { Response as _luthien_policy_v1_Response, Response__Output as _luthien_policy_v1_Response__Output } from '../../../luthien/policy/v1/Response';
import type { Chunk as _luthien_policy_v1_Chunk, Chunk__Output as _luthien_policy_v1_Chunk__Output } from '../../../luthien/policy/v1/Chunk';
import type { End as _luthien_policy_v1_End, End__Output as _luthien_policy_v1_End__Output } from '../../../luthien/policy/v1/End';
import type { UpstreamError as _luthien_policy_v1_UpstreamError, UpstreamError__Output as _luthien_policy_v1_UpstreamError__Output } from '../../../luthien/policy/v1/UpstreamError';
import type { Cancel as _luthien_policy_v1_Cancel, Cancel__Output as _luthien_policy_v1_Cancel__Output } from '../../../luthien/policy/v1/Cancel';
import type { Long } from '@grpc/proto-loader';

export interface GatewayMessage {
  'callId'?: (string);
  'seq'?: (number | string | Long);
  'start'?: (_luthien_policy_v1_Start | null);
  'response'?: (_luthien_policy_v1_Response | null);
  'chunk'?: (_luthien_policy_v1_Chunk | null);
  'end'?: (_luthien_policy_v1_End | null);
  'upstreamError'?: (_luthien_policy_v1_UpstreamError | null);
  'cancel'?: (_luthien_policy_v1_Cancel | null);
  'kind'?: "start"|"response"|"chunk"|"end"|"upstreamError"|"cancel";
}

export interface GatewayMessage__Output {
  'callId': (string);
  'seq': (string);
  'start'?: (_luthien_policy_v1_Start__Output | null);
  'response'?: (_luthien_policy_v1_Response__Output | null);
  'chunk'?: (_luthien_policy_v1_Chunk__Output | null);
  'end'?: (_luthien_policy_v1_End__Output | null);
  'upstreamError'?: (_luthien_policy_v1_UpstreamError__Output | null);
  'cancel'?: (_luthien_policy_v1_Cancel__Output | null);
  'kind'?: "start"|"response"|"chunk"|"end"|"upstreamError"|"cancel";
}
