/**
 * `npm test` must leave no temporary folders behind. Every test process gets a private TMPDIR
 * (os.tmpdir() reads it), made here; when the run ends, anything left in it is a leak, and the
 * run fails naming it. A private folder, not a before/after listing of /tmp, because other
 * programs on the machine write there too.
 */
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), "werkplaats-test-run-"));
  process.env.TMPDIR = dir;
  return () => {
    const left = readdirSync(dir);
    rmSync(dir, { recursive: true, force: true });
    if (left.length > 0) {
      // vitest reports an error thrown here but would still exit 0: the exit code says it too.
      process.exitCode = 1;
      throw new Error(`the tests left ${left.length} temporary file(s) or folder(s) behind (each test must remove what it makes): ${left.join(", ")}`);
    }
  };
}
