// Original file: ../../proto/luthien/policy/v1/policy.proto


export interface Response {
  'responseJson'?: (Buffer | Uint8Array | string);
}

export interface Response__Output {
  'responseJson': (Buffer);
}
