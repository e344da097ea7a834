/**
 * One benchmark station process: `node dist/bench/bench-station.js NAME KEYFILE ROSTERFILE PARENTPID`.
 * Prints "listening on HOST:PORT". Not part of the product: it serves plain vectors too.
 */
import { readFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { fromHex } from "../common/hex.js";
import { MAX_MESSAGE_BYTES } from "../common/protos.js";
import { SecAggParticipant } from "../secagg/index.js";
import { benchService, benchVector } from "./bench-proto.js";
import { whenParentIsGone } from "../common/parent-watch.js";

const [name, keyFile, rosterFile, parentPid] = process.argv.slice(2);
const roster = (JSON.parse(readFileSync(rosterFile, "utf8")) as Array<{ name: string; identityKey: string }>).map((e) => ({
  name: e.name,
  identityKey: fromHex(e.identityKey, "roster key", 32),
}));
const participant = new SecAggParticipant({ name, identitySecretKey: fromHex(readFileSync(keyFile, "utf8").trim(), "key", 32), roster });
const pending = new Map<string, Float64Array>();
/** The bench releases the whole combined vector: it measures the protocol, not disclosure control. */
const releaseAll = (sum: Float64Array) => ({ values: new Float64Array(sum), withheld: new Uint8Array(sum.length), notes: [] });

const unary = <Req, Res>(fn: (req: Req) => Res): grpc.handleUnaryCall<Req, Res> => (call, cb) => {
  try {
    cb(null, fn(call.request));
  } catch (err) {
    cb({ code: grpc.status.FAILED_PRECONDITION, details: (err as Error).message } as grpc.ServiceError);
  }
};

const server = new grpc.Server({ "grpc.max_receive_message_length": MAX_MESSAGE_BYTES, "grpc.max_send_message_length": MAX_MESSAGE_BYTES });
server.addService(benchService().service, {
  Plain: unary((req: { length: number; seed: number }) => ({ values: Array.from(benchVector(req.length, req.seed)) })),
  StartJob: unary((req: { vector: { length: number; seed: number }; secagg: Parameters<SecAggParticipant["advertiseKeys"]>[0] }) => {
    pending.set(req.secagg.jobId, benchVector(req.vector.length, req.vector.seed));
    return participant.advertiseKeys(req.secagg);
  }),
  ShareKeys: unary((req: Parameters<SecAggParticipant["shareKeys"]>[0]) => participant.shareKeys(req)),
  MaskedInput: unary((req: Parameters<SecAggParticipant["maskedInput"]>[0]) => {
    const input = pending.get(req.jobId)!;
    pending.delete(req.jobId);
    return participant.maskedInput(req, input);
  }),
  Release: unary((req: Parameters<SecAggParticipant["release"]>[0]) => participant.release(req, releaseAll)),
});
server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  process.stdout.write(`listening on 127.0.0.1:${port}\n`);
});
const stop = () => server.tryShutdown(() => process.exit(0));
process.on("SIGTERM", stop);
whenParentIsGone(Number(parentPid), stop);
