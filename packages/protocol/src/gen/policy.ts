import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { Cancel as _luthien_policy_v1_Cancel, Cancel__Output as _luthien_policy_v1_Cancel__Output } from './luthien/policy/v1/Cancel';
import type { Chunk as _luthien_policy_v1_Chunk, Chunk__Output as _luthien_policy_v1_Chunk__Output } from './luthien/policy/v1/Chunk';
import type { Continue as _luthien_policy_v1_Continue, Continue__Output as _luthien_policy_v1_Continue__Output } from './luthien/policy/v1/Continue';
import type { Deny as _luthien_policy_v1_Deny, Deny__Output as _luthien_policy_v1_Deny__Output } from './luthien/policy/v1/Deny';
import type { Emit as _luthien_policy_v1_Emit, Emit__Output as _luthien_policy_v1_Emit__Output } from './luthien/policy/v1/Emit';
import type { End as _luthien_policy_v1_End, End__Output as _luthien_policy_v1_End__Output } from './luthien/policy/v1/End';
import type { EngineError as _luthien_policy_v1_EngineError, EngineError__Output as _luthien_policy_v1_EngineError__Output } from './luthien/policy/v1/EngineError';
import type { EngineMessage as _luthien_policy_v1_EngineMessage, EngineMessage__Output as _luthien_policy_v1_EngineMessage__Output } from './luthien/policy/v1/EngineMessage';
import type { Finish as _luthien_policy_v1_Finish, Finish__Output as _luthien_policy_v1_Finish__Output } from './luthien/policy/v1/Finish';
import type { GatewayMessage as _luthien_policy_v1_GatewayMessage, GatewayMessage__Output as _luthien_policy_v1_GatewayMessage__Output } from './luthien/policy/v1/GatewayMessage';
import type { Keepalive as _luthien_policy_v1_Keepalive, Keepalive__Output as _luthien_policy_v1_Keepalive__Output } from './luthien/policy/v1/Keepalive';
import type { PolicyEngineClient as _luthien_policy_v1_PolicyEngineClient, PolicyEngineDefinition as _luthien_policy_v1_PolicyEngineDefinition } from './luthien/policy/v1/PolicyEngine';
import type { RequestVerdict as _luthien_policy_v1_RequestVerdict, RequestVerdict__Output as _luthien_policy_v1_RequestVerdict__Output } from './luthien/policy/v1/RequestVerdict';
import type { Respond as _luthien_policy_v1_Respond, Respond__Output as _luthien_policy_v1_Respond__Output } from './luthien/policy/v1/Respond';
import type { Response as _luthien_policy_v1_Response, Response__Output as _luthien_policy_v1_Response__Output } from './luthien/policy/v1/Response';
import type { ResponseVerdict as _luthien_policy_v1_ResponseVerdict, ResponseVerdict__Output as _luthien_policy_v1_ResponseVerdict__Output } from './luthien/policy/v1/ResponseVerdict';
import type { SseEvent as _luthien_policy_v1_SseEvent, SseEvent__Output as _luthien_policy_v1_SseEvent__Output } from './luthien/policy/v1/SseEvent';
import type { Start as _luthien_policy_v1_Start, Start__Output as _luthien_policy_v1_Start__Output } from './luthien/policy/v1/Start';
import type { UpstreamError as _luthien_policy_v1_UpstreamError, UpstreamError__Output as _luthien_policy_v1_UpstreamError__Output } from './luthien/policy/v1/UpstreamError';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  luthien: {
    policy: {
      v1: {
        Cancel: MessageTypeDefinition<_luthien_policy_v1_Cancel, _luthien_policy_v1_Cancel__Output>
        Chunk: MessageTypeDefinition<_luthien_policy_v1_Chunk, _luthien_policy_v1_Chunk__Output>
        ClientFormat: EnumTypeDefinition
        Continue: MessageTypeDefinition<_luthien_policy_v1_Continue, _luthien_policy_v1_Continue__Output>
        Deny: MessageTypeDefinition<_luthien_policy_v1_Deny, _luthien_policy_v1_Deny__Output>
        Emit: MessageTypeDefinition<_luthien_policy_v1_Emit, _luthien_policy_v1_Emit__Output>
        End: MessageTypeDefinition<_luthien_policy_v1_End, _luthien_policy_v1_End__Output>
        EngineError: MessageTypeDefinition<_luthien_policy_v1_EngineError, _luthien_policy_v1_EngineError__Output>
        EngineMessage: MessageTypeDefinition<_luthien_policy_v1_EngineMessage, _luthien_policy_v1_EngineMessage__Output>
        Finish: MessageTypeDefinition<_luthien_policy_v1_Finish, _luthien_policy_v1_Finish__Output>
        GatewayMessage: MessageTypeDefinition<_luthien_policy_v1_GatewayMessage, _luthien_policy_v1_GatewayMessage__Output>
        Keepalive: MessageTypeDefinition<_luthien_policy_v1_Keepalive, _luthien_policy_v1_Keepalive__Output>
        PolicyEngine: SubtypeConstructor<typeof grpc.Client, _luthien_policy_v1_PolicyEngineClient> & { service: _luthien_policy_v1_PolicyEngineDefinition }
        RequestVerdict: MessageTypeDefinition<_luthien_policy_v1_RequestVerdict, _luthien_policy_v1_RequestVerdict__Output>
        Respond: MessageTypeDefinition<_luthien_policy_v1_Respond, _luthien_policy_v1_Respond__Output>
        Response: MessageTypeDefinition<_luthien_policy_v1_Response, _luthien_policy_v1_Response__Output>
        ResponseMode: EnumTypeDefinition
        ResponseVerdict: MessageTypeDefinition<_luthien_policy_v1_ResponseVerdict, _luthien_policy_v1_ResponseVerdict__Output>
        SseEvent: MessageTypeDefinition<_luthien_policy_v1_SseEvent, _luthien_policy_v1_SseEvent__Output>
        Start: MessageTypeDefinition<_luthien_policy_v1_Start, _luthien_policy_v1_Start__Output>
        UpstreamError: MessageTypeDefinition<_luthien_policy_v1_UpstreamError, _luthien_policy_v1_UpstreamError__Output>
      }
    }
  }
}

