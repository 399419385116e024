// Original file: ../../proto/luthien/policy/v1/policy.proto

import type { SseEvent as _luthien_policy_v1_SseEvent, SseEvent__Output as _luthien_policy_v1_SseEvent__Output } from '../../../luthien/policy/v1/SseEvent';

export interface Emit {
  'events'?: (_luthien_policy_v1_SseEvent)[];
  'unchanged'?: (boolean);
}

export interface Emit__Output {
  'events': (_luthien_policy_v1_SseEvent__Output)[];
  'unchanged': (boolean);
}
