import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { PROTO_LOADER_OPTIONS } from "../common/protos.js";
import { packageRoot } from "../common/package-root.js";
import { Rng } from "../synth/random.js";

export function benchService(): grpc.ServiceClientConstructor {
  const root = packageRoot();
  const def = protoLoader.loadSync(join(root, "bench", "bench.proto"), { ...PROTO_LOADER_OPTIONS, includeDirs: [join(root, "protos")] });
  return (grpc.loadPackageDefinition(def) as unknown as { werkplaats: { bench: { BenchStation: grpc.ServiceClientConstructor } } }).werkplaats.bench.BenchStation;
}

/** A reproducible vector of reals in [-1000, 1000): benchmark input, not a secret. */
export function benchVector(length: number, seed: number): Float64Array {
  const rng = new Rng(seed, "bench-vector");
  const out = new Float64Array(length);
  for (let i = 0; i < length; i++) out[i] = rng.uniform() * 2000 - 1000;
  return out;
}
