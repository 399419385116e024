// Original file: ../../proto/luthien/policy/v1/policy.proto

import type { Respond as _luthien_policy_v1_Respond, Respond__Output as _luthien_policy_v1_Respond__Output } from '../../../luthien/policy/v1/Respond';
import type { Deny as _luthien_policy_v1_Deny, Deny__Output as _luthien_policy_v1_Deny__Output } from '../../../luthien/policy/v1/Deny';

export interface ResponseVerdict {
  'respond'?: (_luthien_policy_v1_Respond | null);
  'deny'?: (_luthien_policy_v1_Deny | null);
  'action'?: "respond"|"deny";
}

export interface ResponseVerdict__Output {
  'respond'?: (_luthien_policy_v1_Respond__Output | null);
  'deny'?: (_luthien_policy_v1_Deny__Output | null);
  'action'?: "respond"|"deny";
}
