import { Recordings } from "../domain/recording/recordings.js";
import { recordingHandlers } from "../handlers/recording.js";
import type { ServiceHandlers } from "../routes.js";
import type { Core } from "./core.js";

/** RecordingService: agents store their nodes' SSH session recordings; readers with recording/read stream them back. */
export function wireRecordings(core: Core): Pick<ServiceHandlers, "recording"> {
  const { config, store, clock, audit } = core;
  return {
    recording: recordingHandlers(
      new Recordings({ store, clock, audit, maxBytes: config.recording_max_bytes, maxChunkBytes: config.recording_max_chunk_bytes }),
    ),
  };
}
