// Original file: ../../proto/luthien/policy/v1/policy.proto

export const ClientFormat = {
  CLIENT_FORMAT_UNSPECIFIED: 'CLIENT_FORMAT_UNSPECIFIED',
  OPENAI_CHAT: 'OPENAI_CHAT',
  ANTHROPIC_MESSAGES: 'ANTHROPIC_MESSAGES',
  OPENAI_RESPONSES: 'OPENAI_RESPONSES',
} as const;

export type ClientFormat =
  | 'CLIENT_FORMAT_UNSPECIFIED'
  | 0
  | 'OPENAI_CHAT'
  | 1
  | 'ANTHROPIC_MESSAGES'
  | 2
  | 'OPENAI_RESPONSES'
  | 3

export type ClientFormat__Output = typeof ClientFormat[keyof typeof ClientFormat]
