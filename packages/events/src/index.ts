/**
 * Activity events: the envelope and its validation, subject names, and the only code that talks to NATS — a
 * JetStream publisher with a bounded outbox, a durable pull consumer, a live subscription — plus the secret
 * detectors that decide what an event may not carry at rest. Nothing of ours is imported here, so every service
 * and tool can depend on it.
 */
export { EventsError, InvalidEventError, FlushTimeoutError, ClosedError, InvalidConsumerNameError } from "./errors";
export { uuidv7, isUuid } from "./uuid";
export {
  ACTIVITY_SUBJECT_PREFIX,
  ACTIVITY_SUBJECTS,
  ACTIVITY_STREAM,
  MAX_TYPE_LENGTH,
  isValidEventType,
  subjectFor,
  typeFromSubject,
  activitySubjectFilter,
} from "./subjects";
export { ACTIVITY_SOURCES, ActivityEventTypes, LIFECYCLE_EVENT_TYPES, policyEventType, policyActionOf } from "./types";
export type {
  ActivityEvent,
  ActivitySource,
  JsonObject,
  JsonValue,
  LifecycleEventType,
  LifecycleEventData,
  ClientFormat,
  CallOutcome,
  CallStartedData,
  RequestBodyData,
  ResponseBodyData,
  CallEndedData,
  CallEngineData,
  PolicyBypassedData,
  PolicyUnavailableData,
} from "./types";
export { parseActivityEvent, encodeActivityEvent, MAX_CALL_ID_LENGTH } from "./envelope";
export { silentLogger } from "./logger";
export type { EventsLogger } from "./logger";
export type { ActivityStreamLimits } from "./internal/nats";
export { createEventPublisher } from "./publisher";
export type { EventPublisher, EventPublisherOptions, PublisherCounters } from "./publisher";
export { createActivityConsumer, isValidConsumerName, MAX_CONSUMER_NAME_LENGTH } from "./consumer";
export type { ActivityConsumer, ActivityConsumerOptions, ActivityMessage, ActivityBatchHandler, ConsumerCounters } from "./consumer";
export { subscribeActivity, publishActivityBytes } from "./subscription";
export { SECRET_DETECTORS, redactSecrets, redactSecretsInJson, defaultSecretMarker } from "./secrets";
export type { SecretDetector, SecretRule, SecretRedaction } from "./secrets";
export type { ActivityDelivery, ActivitySubscription, ActivitySubscriptionOptions, PublishBytesOptions } from "./subscription";
export { RawJson } from "./raw-json";
