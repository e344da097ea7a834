import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

/**
 * The proto files ship in `protos/` at the package root; this module runs both from source
 * (tests) and from `dist/`, so look upwards for them instead of assuming a depth.
 */
function protoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, "protos");
    if (existsSync(join(candidate, "werkplaats", "v1", "station.proto"))) return candidate;
    dir = dirname(dir);
  }
  throw new Error("werkplaats: cannot find protos/werkplaats/v1/station.proto next to the package");
}

export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: false,
  arrays: true,
  objects: true,
  oneofs: true,
};

let cached: grpc.GrpcObject | undefined;

export function stationPackage(): grpc.GrpcObject {
  if (!cached) {
    const root = protoRoot();
    const definition = protoLoader.loadSync(join(root, "werkplaats", "v1", "station.proto"), {
      ...PROTO_LOADER_OPTIONS,
      includeDirs: [root],
    });
    cached = grpc.loadPackageDefinition(definition);
  }
  return cached;
}

export function stationServiceDefinition(): grpc.ServiceDefinition {
  const pkg = stationPackage() as unknown as { werkplaats: { v1: { Station: grpc.ServiceClientConstructor } } };
  return pkg.werkplaats.v1.Station.service;
}

export function stationClientConstructor(): grpc.ServiceClientConstructor {
  const pkg = stationPackage() as unknown as { werkplaats: { v1: { Station: grpc.ServiceClientConstructor } } };
  return pkg.werkplaats.v1.Station;
}

/** Both sides cap messages: a masked vector of 10^6 cells is 16 MB; nothing legitimate is larger. */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** The metadata key carrying a werkplaats error code alongside the gRPC status. */
export const ERROR_CODE_METADATA_KEY = "werkplaats-code";
