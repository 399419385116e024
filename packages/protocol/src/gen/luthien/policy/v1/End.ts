// Original file: ../../proto/luthien/policy/v1/policy.proto


export interface End {
}

export interface End__Output {
}
