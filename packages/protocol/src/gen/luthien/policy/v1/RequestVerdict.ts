// Original file: ../../proto/luthien/policy/v1/policy.proto

import type { Continue as _luthien_policy_v1_Continue, Continue__Output as _luthien_policy_v1_Continue__Output } from '../../../luthien/policy/v1/Continue';
import type { Respond as _luthien_policy_v1_Respond, Respond__Output as _luthien_policy_v1_Respond__Output } from '../../../luthien/policy/v1/Respond';
import type { Deny as _luthien_policy_v1_Deny, Deny__Output as _luthien_policy_v1_Deny__Output } from '../../../luthien/policy/v1/Deny';

export interface RequestVerdict {
  'continue'?: (_luthien_policy_v1_Continue | null);
  'respond'?: (_luthien_policy_v1_Respond | null);
  'deny'?: (_luthien_policy_v1_Deny | null);
  'action'?: "continue"|"respond"|"deny";
}

export interface RequestVerdict__Output {
  'continue'?: (_luthien_policy_v1_Continue__Output | null);
  'respond'?: (_luthien_policy_v1_Respond__Output | null);
  'deny'?: (_luthien_policy_v1_Deny__Output | null);
  'action'?: "continue"|"respond"|"deny";
}
