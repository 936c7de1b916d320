/** The bare gRPC server's one method (no proto: the service is defined in code with pass-through serializers). */
export const BARE_GRPC_PATH = "/bench.bare.v1.BareService/Empty";
