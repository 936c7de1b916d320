import type { DescFile } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import type { ServerReflection as ReflectionV1 } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import type { ServerReflection as ReflectionV1alpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import type { DescriptorIndex } from "../reflection/descriptor-index.js";

/** A stream is a client's look at the schema: a few dozen questions; past this many it is abuse. */
export const MAX_REFLECTION_REQUESTS = 1000;

/** The request as both reflection packages define it (v1 and v1alpha differ only in name). */
interface ReflectionRequest {
  host: string;
  messageRequest:
    | { case: "fileByFilename" | "fileContainingSymbol" | "allExtensionNumbersOfType" | "listServices"; value: string }
    | { case: "fileContainingExtension"; value: { containingType: string; extensionNumber: number } }
    | { case: undefined; value?: undefined };
}

type Answer =
  | { case: "fileDescriptorResponse"; value: { fileDescriptorProto: Uint8Array[] } }
  | { case: "allExtensionNumbersResponse"; value: { baseTypeName: string; extensionNumber: number[] } }
  | { case: "listServicesResponse"; value: { service: { name: string }[] } }
  | { case: "errorResponse"; value: { errorCode: number; errorMessage: string } };

/** grpc.reflection.v1 and its older name v1alpha, answered from one index. */
export function reflectionHandlers(index: DescriptorIndex): { v1: ServiceImpl<typeof ReflectionV1>; v1alpha: ServiceImpl<typeof ReflectionV1alpha> } {
  async function* serverReflectionInfo(requests: AsyncIterable<ReflectionRequest>) {
    const sent = new Set<string>();
    let count = 0;
    for await (const req of requests) {
      if (++count > MAX_REFLECTION_REQUESTS)
        throw new ConnectError(`at most ${MAX_REFLECTION_REQUESTS} reflection requests per stream`, Code.ResourceExhausted);
      yield {
        validHost: req.host,
        originalRequest: { host: req.host, messageRequest: copyOf(req.messageRequest) },
        messageResponse: answer(index, req.messageRequest, sent),
      };
    }
  }
  return { v1: { serverReflectionInfo }, v1alpha: { serverReflectionInfo } };
}

function answer(index: DescriptorIndex, request: ReflectionRequest["messageRequest"], sent: Set<string>): Answer {
  const files = (file: DescFile | undefined, what: string): Answer =>
    file ? { case: "fileDescriptorResponse", value: { fileDescriptorProto: index.withDependencies(file, sent) } } : notFound(what);
  switch (request.case) {
    case "fileByFilename":
      return files(index.fileByName(request.value), `file ${request.value}`);
    case "fileContainingSymbol":
      return files(index.fileContainingSymbol(request.value), `symbol ${request.value}`);
    case "fileContainingExtension": {
      const { containingType, extensionNumber } = request.value;
      return files(index.fileContainingExtension(containingType, extensionNumber), `extension ${extensionNumber} of ${containingType}`);
    }
    case "allExtensionNumbersOfType": {
      const numbers = index.extensionNumbersOf(request.value);
      if (!numbers) return notFound(`type ${request.value}`);
      return { case: "allExtensionNumbersResponse", value: { baseTypeName: request.value, extensionNumber: numbers } };
    }
    case "listServices":
      return { case: "listServicesResponse", value: { service: index.serviceNames.map((name) => ({ name })) } };
    default:
      return { case: "errorResponse", value: { errorCode: Code.InvalidArgument, errorMessage: "the request names no question" } };
  }
}

function notFound(what: string): Answer {
  return { case: "errorResponse", value: { errorCode: Code.NotFound, errorMessage: `${what} not found` } };
}

/** The request echoed back as a plain value, so one answer fits both packages' messages. */
function copyOf(request: ReflectionRequest["messageRequest"]): ReflectionRequest["messageRequest"] {
  if (request.case === "fileContainingExtension")
    return { case: request.case, value: { containingType: request.value.containingType, extensionNumber: request.value.extensionNumber } };
  return request;
}
