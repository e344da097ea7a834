import { createResearcherKeys } from "../../sdk/auth/researcher-keys.js";
import { parseArgs } from "../args.js";
import { UsageError } from "../exit-codes.js";

const HELP = `werkplaats keys — a researcher's signing key pair

  werkplaats keys new --out DIR [--json]
      Makes a fresh Ed25519 key pair: DIR/researcher.key (secret, mode 0600; never share it)
      and DIR/researcher.pub (public). Give the public key to each station's data steward, who
      lists it under a study in the station's policy.json. Refuses to overwrite existing keys.
`;

export async function keysCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || sub === "--help" || sub === "-h" || sub === "help") {
    process.stdout.write(HELP);
    return sub ? 0 : 2;
  }
  if (sub !== "new") throw new UsageError(`unknown keys command "${sub}"\n${HELP}`);
  const { values, positionals } = parseArgs(rest, { out: { type: "string" }, json: { type: "boolean" } }, "keys new");
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`keys new takes no positional arguments (got ${positionals.join(" ")}); use --out DIR`);
  if (!values.out) throw new UsageError("keys new needs --out DIR");
  const made = createResearcherKeys(values.out);
  if (values.json) {
    process.stdout.write(JSON.stringify({ publicKey: made.publicKey, secretKeyFile: made.secretKeyFile, publicKeyFile: made.publicKeyFile }) + "\n");
  } else {
    process.stdout.write(
      `researcher key pair written:\n  secret ${made.secretKeyFile} (mode 0600 — keep it to yourself)\n  public ${made.publicKeyFile}\n` +
        `public key (give this to the stations' data stewards): ${made.publicKey}\n`,
    );
  }
  return 0;
}
