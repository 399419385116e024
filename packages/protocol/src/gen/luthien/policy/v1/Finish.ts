// Original file: ../../proto/luthien/policy/v1/policy.proto

import type { SseEvent as _luthien_policy_v1_SseEvent, SseEvent__Output as _luthien_policy_v1_SseEvent__Output } from '../../../luthien/policy/v1/SseEvent';
import type { Deny as _luthien_policy_v1_Deny, Deny__Output as _luthien_policy_v1_Deny__Output } from '../../../luthien/policy/v1/Deny';

export interface Finish {
  'events'?: (_luthien_policy_v1_SseEvent)[];
  'error'?: (_luthien_policy_v1_Deny | null);
  'policyActions'?: (string)[];
}

export interface Finish__Output {
  'events': (_luthien_policy_v1_SseEvent__Output)[];
  'error': (_luthien_policy_v1_Deny__Output | null);
  'policyActions': (string)[];
}
