import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { ConnectorSchema, ConnectorService, type Connector } from "../../gen/warden/connector/v1/connector_service_pb.js";
import type { ConnectorRow } from "../domain/records.js";
import { invalidArgument } from "../domain/errors.js";
import type { Connectors } from "../domain/oidc/connectors.js";
import { metaOf, principalOf } from "./call-context.js";

export function connectorToProto(c: ConnectorRow): Connector {
  return create(ConnectorSchema, {
    id: c.id,
    displayName: c.displayName,
    issuerUrl: c.issuerUrl,
    clientIds: c.clientIds,
    jwksUrl: c.jwksUrl,
    createTime: timestampFromDate(c.createdAt),
  });
}

export function connectorHandlers(connectors: Connectors): ServiceImpl<typeof ConnectorService> {
  return {
    async createConnector(req, ctx) {
      const c = req.connector;
      if (!c) throw invalidArgument("connector", "is required");
      const row = await connectors.create(
        principalOf(ctx),
        { id: c.id, displayName: c.displayName, issuerUrl: c.issuerUrl, clientIds: c.clientIds, jwksUrl: c.jwksUrl },
        metaOf(ctx),
      );
      return { connector: connectorToProto(row) };
    },
    async listConnectors(req) {
      const page = await connectors.list(req);
      return { connectors: page.items.map(connectorToProto), nextPageToken: page.nextPageToken };
    },
    async deleteConnector(req, ctx) {
      await connectors.delete(principalOf(ctx), req.id, metaOf(ctx));
      return {};
    },
  };
}
