/**
 * The bench's bare gRPC baseline: @grpc/grpc-js serving one empty unary RPC on h2c, with
 * pass-through serializers (bytes in, bytes out) so no proto is compiled or decoded. Listens
 * on 127.0.0.1 at a port the system picks and writes `{"port":N}` on stdout when ready.
 */
import * as grpc from "@grpc/grpc-js";
import { BARE_GRPC_PATH } from "./paths.js";

const passThrough = (b: Buffer) => b;
const empty = Buffer.alloc(0);

const service: grpc.ServiceDefinition = {
  empty: {
    path: BARE_GRPC_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: passThrough,
    requestDeserialize: passThrough,
    responseSerialize: passThrough,
    responseDeserialize: passThrough,
  },
};

const server = new grpc.Server();
server.addService(service, {
  empty: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => callback(null, empty),
});
server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) {
    console.error(err.message);
    process.exit(1);
  }
  process.stdout.write(`${JSON.stringify({ port })}\n`);
});
process.on("SIGTERM", () => server.forceShutdown());
