// Original file: ../../proto/luthien/policy/v1/policy.proto

export const ResponseMode = {
  RESPONSE_MODE_UNSPECIFIED: 'RESPONSE_MODE_UNSPECIFIED',
  FULL: 'FULL',
  OBSERVE: 'OBSERVE',
  SKIP: 'SKIP',
} as const;

export type ResponseMode =
  | 'RESPONSE_MODE_UNSPECIFIED'
  | 0
  | 'FULL'
  | 1
  | 'OBSERVE'
  | 2
  | 'SKIP'
  | 3

export type ResponseMode__Output = typeof ResponseMode[keyof typeof ResponseMode]
