import { RecordingReaders } from "../domain/recording/recording-readers.js";
import { Recordings } from "../domain/recording/recordings.js";
import type { RbacArea } from "./rbac.js";
import { recordingHandlers } from "../handlers/recording.js";
import type { ServiceHandlers } from "../routes.js";
import type { Core } from "./core.js";

/** RecordingService: agents store their nodes' SSH session recordings; readers (recording/read, or recording/read_reachable for their roles' nodes) stream them back. */
export function wireRecordings(core: Core, deps: { rbac: RbacArea }): Pick<ServiceHandlers, "recording"> {
  const { config, store, clock, audit } = core;
  return {
    recording: recordingHandlers(
      new Recordings({
        store,
        clock,
        audit,
        maxBytes: config.recording_max_bytes,
        maxChunkBytes: config.recording_max_chunk_bytes,
        readers: new RecordingReaders({ roles: deps.rbac.catalog, nodes: store.nodes }),
      }),
    ),
  };
}
