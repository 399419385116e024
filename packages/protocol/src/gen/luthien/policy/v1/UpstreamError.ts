// Original file: ../../proto/luthien/policy/v1/policy.proto


export interface UpstreamError {
  'status'?: (number);
  'type'?: (string);
  'message'?: (string);
}

export interface UpstreamError__Output {
  'status': (number);
  'type': (string);
  'message': (string);
}
