/** Running the built `werkplaats` command as a child process, as a user or a scheduler would. */
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { cliEntryPoint } from "../../common/package-root.js";

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `werkplaats ARGS…` to completion (all output read). A command that hangs is killed after
 * 45 s, so it fails its own test rather than the whole file's timeout. `onStderr` sees stderr as
 * it grows and may signal the process (e.g. kill it halfway through a fit).
 */
export function runCli(args: string[], options: { onStderr?: (text: string, kill: (signal: NodeJS.Signals) => void) => void } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliEntryPoint(), ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
      options.onStderr?.(stderr, (signal) => child.kill(signal));
    });
    child.once("error", reject);
    const timer = setTimeout(() => child.kill("SIGKILL"), 45_000);
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** A loopback port nothing listens on (for a station that is not there). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}
