// Original file: ../../proto/luthien/policy/v1/policy.proto


export interface Cancel {
  'reason'?: (string);
}

export interface Cancel__Output {
  'reason': (string);
}
