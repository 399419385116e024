// Original file: ../../proto/luthien/policy/v1/policy.proto


export interface Keepalive {
  'holdMs'?: (number);
}

export interface Keepalive__Output {
  'holdMs': (number);
}
