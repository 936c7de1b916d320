import type { ServiceImpl } from "@connectrpc/connect";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { TelemetryService, type TelemetryEvent } from "../../gen/warden/telemetry/v1/telemetry_service_pb.js";
import type { TelemetryEventInput } from "../domain/telemetry/telemetry-event.js";
import type { TelemetryIngest } from "../domain/telemetry/telemetry-ingest.js";
import { grantOf, principalOf } from "./call-context.js";

export function telemetryHandlers(ingest: TelemetryIngest): ServiceImpl<typeof TelemetryService> {
  return {
    async emitTelemetryEvent(req, ctx) {
      await ingest.emit(principalOf(ctx), grantOf(ctx), req.event ? [eventFromProto(req.event)] : [], () => "event", ctx.signal);
      return {};
    },
    async batchEmitTelemetry(req, ctx) {
      const accepted = await ingest.emit(principalOf(ctx), grantOf(ctx), req.events.map(eventFromProto), (i) => `events[${i}]`, ctx.signal);
      return { accepted };
    },
  };
}

function eventFromProto(e: TelemetryEvent): TelemetryEventInput {
  return {
    type: e.type,
    time: e.time ? timestampDate(e.time) : undefined,
    deviceId: e.deviceId || undefined,
    attributes: e.attributes,
    posture: e.posture && {
      os: e.posture.os,
      osVersion: e.posture.osVersion,
      diskEncrypted: e.posture.diskEncrypted,
      screenLock: e.posture.screenLock,
      agentVersion: e.posture.agentVersion,
    },
  };
}
