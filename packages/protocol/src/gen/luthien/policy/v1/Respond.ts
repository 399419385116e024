// Original file: ../../proto/luthien/policy/v1/policy.proto


export interface Respond {
  'responseJson'?: (Buffer | Uint8Array | string);
}

export interface Respond__Output {
  'responseJson': (Buffer);
}
