// Original file: ../../proto/luthien/policy/v1/policy.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { EngineMessage as _luthien_policy_v1_EngineMessage, EngineMessage__Output as _luthien_policy_v1_EngineMessage__Output } from '../../../luthien/policy/v1/EngineMessage';
import type { GatewayMessage as _luthien_policy_v1_GatewayMessage, GatewayMessage__Output as _luthien_policy_v1_GatewayMessage__Output } from '../../../luthien/policy/v1/GatewayMessage';

export interface PolicyEngineClient extends grpc.Client {
  Process(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_luthien_policy_v1_GatewayMessage, _luthien_policy_v1_EngineMessage__Output>;
  Process(options?: grpc.CallOptions): grpc.ClientDuplexStream<_luthien_policy_v1_GatewayMessage, _luthien_policy_v1_EngineMessage__Output>;
  process(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_luthien_policy_v1_GatewayMessage, _luthien_policy_v1_EngineMessage__Output>;
  process(options?: grpc.CallOptions): grpc.ClientDuplexStream<_luthien_policy_v1_GatewayMessage, _luthien_policy_v1_EngineMessage__Output>;
  
}

export interface PolicyEngineHandlers extends grpc.UntypedServiceImplementation {
  Process: grpc.handleBidiStreamingCall<_luthien_policy_v1_GatewayMessage__Output, _luthien_policy_v1_EngineMessage>;
  
}

export interface PolicyEngineDefinition extends grpc.ServiceDefinition {
  Process: MethodDefinition<_luthien_policy_v1_GatewayMessage, _luthien_policy_v1_EngineMessage, _luthien_policy_v1_GatewayMessage__Output, _luthien_policy_v1_EngineMessage__Output>
}
