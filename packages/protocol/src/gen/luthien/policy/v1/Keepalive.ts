// Original file: ../../proto/luthien/policy/v1/policy.proto


export interface Keepalive {
}

export interface Keepalive__Output {
}
