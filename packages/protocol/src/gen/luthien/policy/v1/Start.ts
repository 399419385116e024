// Original file: ../../proto/luthien/policy/v1/policy.proto

import type { ClientFormat as _luthien_policy_v1_ClientFormat, ClientFormat__Output as _luthien_policy_v1_ClientFormat__Output } from '../../../luthien/policy/v1/ClientFormat';

export interface Start {
  'protocolVersion'?: (number);
  'format'?: (_luthien_policy_v1_ClientFormat);
  'stream'?: (boolean);
  'keyId'?: (string);
  'userId'?: (string);
  'sessionId'?: (string);
  'route'?: (string);
  'headers'?: ({[key: string]: string});
  'requestJson'?: (Buffer | Uint8Array | string);
  'traceContext'?: ({[key: string]: string});
  'owner'?: (string);
}

export interface Start__Output {
  'protocolVersion': (number);
  'format': (_luthien_policy_v1_ClientFormat__Output);
  'stream': (boolean);
  'keyId': (string);
  'userId': (string);
  'sessionId': (string);
  'route': (string);
  'headers': ({[key: string]: string});
  'requestJson': (Buffer);
  'traceContext': ({[key: string]: string});
  'owner': (string);
}
