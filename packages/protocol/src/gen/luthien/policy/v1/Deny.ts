// Original file: ../../proto/luthien/policy/v1/policy.proto


export interface Deny {
  'status'?: (number);
  'errorType'?: (string);
  'message'?: (string);
}

export interface Deny__Output {
  'status': (number);
  'errorType': (string);
  'message': (string);
}
