// Original file: ../../proto/luthien/policy/v1/policy.proto

import type { ResponseMode as _luthien_policy_v1_ResponseMode, ResponseMode__Output as _luthien_policy_v1_ResponseMode__Output } from '../../../luthien/policy/v1/ResponseMode';

export interface Continue {
  'requestJson'?: (Buffer | Uint8Array | string);
  'mode'?: (_luthien_policy_v1_ResponseMode);
}

export interface Continue__Output {
  'requestJson': (Buffer);
  'mode': (_luthien_policy_v1_ResponseMode__Output);
}
