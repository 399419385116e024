// Original file: ../../proto/luthien/policy/v1/policy.proto


export interface EngineError {
  'code'?: (string);
  'message'?: (string);
  'supportedVersions'?: (number)[];
}

export interface EngineError__Output {
  'code': (string);
  'message': (string);
  'supportedVersions': (number)[];
}
