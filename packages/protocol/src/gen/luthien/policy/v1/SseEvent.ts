// Original file: ../../proto/luthien/policy/v1/policy.proto


export interface SseEvent {
  'event'?: (string);
  'data'?: (Buffer | Uint8Array | string);
}

export interface SseEvent__Output {
  'event': (string);
  'data': (Buffer);
}
