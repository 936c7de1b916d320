import type { Clock } from "../../clock.js";
import type { ConnectorRow } from "../records.js";
import type { AuditStore } from "../store/audit-store.js";
import type { ConnectorStore } from "../store/federation-store.js";
import type { Ports } from "../store/transactional.js";
import type { AuditLog } from "../audit/audit-log.js";
import type { RequestMeta } from "../auth/request-meta.js";
import { DomainError, invalidArgument, notFound } from "../errors.js";
import { auditActor } from "../audit/audit-actor.js";
import { createdCursorOf, decodeCreatedCursor, pageOf, pageSize } from "../pagination.js";
import type { Principal } from "../principal.js";
import type { OidcProvider } from "./id-token-verifier.js";
import { providerUrlProblem } from "./provider-url.js";

/** The id of the built-in provider; no connector may take it. */
export const GOOGLE_CONNECTOR_ID = "google";

export interface GoogleSettings {
  /** Empty: Google sign-in is off. */
  clientIds: string[];
  issuer: string;
  jwksUrl: string;
}

export interface ConnectorInput {
  id: string;
  displayName: string;
  issuerUrl: string;
  clientIds: string[];
  jwksUrl: string;
}

export interface ConnectorsDeps {
  store: Ports<{ connectors: ConnectorStore; audit: Pick<AuditStore, "append"> }>;
  clock: Clock;
  audit: AuditLog;
  google: GoogleSettings;
}

const SLUG = /^[a-z][a-z0-9-]{0,62}$/;
const CLIENT_ID = /^[\x21-\x7e]{1,255}$/;
const MAX_CLIENT_IDS = 20;
const MAX_URL_CHARS = 2048;

/** OIDC issuers accepted for sign-in: Google from configuration, others added by admins. */
export class Connectors {
  private readonly google: OidcProvider | undefined;

  constructor(private readonly d: ConnectorsDeps) {
    this.google = googleProvider(d.google);
  }

  /** The provider a sign-in names: empty (or "google") is the built-in Google provider. */
  async resolve(connectorId: string): Promise<OidcProvider> {
    if (connectorId === "" || connectorId === GOOGLE_CONNECTOR_ID) {
      if (!this.google) throw new DomainError("failed_precondition", "GOOGLE_NOT_CONFIGURED", "Google sign-in is not configured on this server");
      return this.google;
    }
    const row = SLUG.test(connectorId) ? await this.d.store.connectors.find(connectorId) : undefined;
    if (!row) throw notFound("CONNECTOR_NOT_FOUND", "connector");
    return { id: row.id, issuer: row.issuerUrl, acceptedIssuers: [row.issuerUrl], clientIds: row.clientIds, jwksUrl: row.jwksUrl };
  }

  async create(caller: Principal, input: ConnectorInput, meta: RequestMeta): Promise<ConnectorRow> {
    const checked = checkConnector(input);
    return this.d.store.transaction(async (tx) => {
      const row = await tx.connectors.create(checked, this.d.clock.now());
      if (!row) {
        if (await tx.connectors.find(checked.id)) throw new DomainError("already_exists", "CONNECTOR_EXISTS", "a connector with this id exists");
        throw new DomainError("already_exists", "CONNECTOR_ISSUER_EXISTS", "a connector for this issuer exists");
      }
      await this.d.audit.record(tx, {
        eventType: "connector.create",
        outcome: "success",
        ...auditActor(caller, meta),
        targetType: "connector",
        targetId: row.id,
        details: { issuer: row.issuerUrl },
      });
      return row;
    });
  }

  async list(req: { pageSize: number; pageToken: string }): Promise<{ items: ConnectorRow[]; nextPageToken: string }> {
    const size = pageSize(req.pageSize);
    const rows = await this.d.store.connectors.list(size + 1, decodeCreatedCursor(req.pageToken, false));
    return pageOf(rows, size, createdCursorOf);
  }

  /** Identities linked through the connector stay; they work again if the issuer is added back. */
  async delete(caller: Principal, id: string, meta: RequestMeta): Promise<void> {
    await this.d.store.transaction(async (tx) => {
      const row = await tx.connectors.delete(id);
      if (!row) throw notFound("CONNECTOR_NOT_FOUND", "connector");
      await this.d.audit.record(tx, {
        eventType: "connector.delete",
        outcome: "success",
        ...auditActor(caller, meta),
        targetType: "connector",
        targetId: id,
        details: { issuer: row.issuerUrl },
      });
    });
  }
}

/** Google: the configured issuer, plus the host-only form Google also puts in `iss`. */
export function googleProvider(s: GoogleSettings): OidcProvider | undefined {
  if (s.clientIds.length === 0) return undefined;
  const acceptedIssuers = [s.issuer];
  if (s.issuer.startsWith("https://")) acceptedIssuers.push(s.issuer.slice("https://".length));
  return { id: GOOGLE_CONNECTOR_ID, issuer: s.issuer, acceptedIssuers, clientIds: s.clientIds, jwksUrl: s.jwksUrl };
}

function checkConnector(c: ConnectorInput): ConnectorInput {
  if (!SLUG.test(c.id)) throw invalidArgument("connector.id", "lower-case letters, digits and '-'; starts with a letter; at most 63");
  if (c.id === GOOGLE_CONNECTOR_ID) throw invalidArgument("connector.id", "is reserved for the built-in Google provider", "CONNECTOR_ID_RESERVED");
  if ([...c.displayName].length > 200) throw invalidArgument("connector.display_name", "at most 200 characters");
  checkUrl("connector.issuer_url", c.issuerUrl);
  checkUrl("connector.jwks_url", c.jwksUrl);
  const clientIds = [...new Set(c.clientIds)];
  if (clientIds.length === 0 || clientIds.length > MAX_CLIENT_IDS) throw invalidArgument("connector.client_ids", `1 to ${MAX_CLIENT_IDS} client ids`);
  if (!clientIds.every((id) => CLIENT_ID.test(id))) throw invalidArgument("connector.client_ids", "each 1 to 255 printable characters, no spaces");
  return { id: c.id, displayName: c.displayName || c.id, issuerUrl: c.issuerUrl, clientIds, jwksUrl: c.jwksUrl };
}

function checkUrl(field: string, value: string): void {
  if (!value) throw invalidArgument(field, "is required");
  if (value.length > MAX_URL_CHARS) throw invalidArgument(field, `at most ${MAX_URL_CHARS} characters`);
  const problem = providerUrlProblem(value);
  if (problem) throw invalidArgument(field, problem, "CONNECTOR_URL_INVALID");
}
