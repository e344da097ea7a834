import { createRequire } from "node:module";
import { WerkplaatsError } from "../../common/errors.js";
import { DANFOJS_INSTALL } from "../../sdk/results/dataframe.js";
import { JupyterMissing, KERNEL_DISPLAY_NAME, KERNEL_NAME, installKernel, uninstallKernel, type InstallScope } from "../../kernel-extensions/kernelspec.js";
import { parseArgs } from "../args.js";
import { EXIT, UsageError } from "../exit-codes.js";

const HELP = `werkplaats kernel install [--user | --sys-prefix | --prefix P] [--python PATH]
werkplaats kernel uninstall [--prefix P] [--python PATH]

install    registers the Jupyter kernel "${KERNEL_NAME}" ("${KERNEL_DISPLAY_NAME}"): tslab run by
           this Node.js, in which notebooks can \`import { Federation } from "werkplaats"\` and
           \`import { show } from "werkplaats/notebook"\` wherever they are saved.
uninstall  removes it.

result.toDataFrame() needs danfojs, an optional dependency (it brings TensorFlow.js, ~390 MB):
install prints \`npm install danfojs@1.1.2\` when it is missing.

  --user         into your own Jupyter data folder (default when not root)
  --sys-prefix   into the Python environment's prefix (virtualenv, conda)
  --prefix P     into P/share/jupyter/kernels/ (then set JUPYTER_PATH=P/share/jupyter)
  --python PATH  the Python that has Jupyter (default: jupyter on PATH, else /usr/bin/python3,
                 else python3 on PATH)

Exit codes: 0 done, 2 usage, 3 Jupyter not found or the install failed.
`;

export async function kernelCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs(
    argv,
    { user: { type: "boolean" }, "sys-prefix": { type: "boolean" }, prefix: { type: "string" }, python: { type: "string" } },
    "kernel",
  );
  if (values.help) {
    process.stdout.write(HELP);
    return EXIT.OK;
  }
  const [action, ...extra] = positionals;
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"\nsee: werkplaats kernel --help`);
  const scopes = [values.user, values["sys-prefix"], values.prefix !== undefined].filter(Boolean).length;
  if (scopes > 1) throw new UsageError("give at most one of --user, --sys-prefix and --prefix");
  try {
    if (action === "install") {
      const scope: InstallScope =
        values.prefix !== undefined ? { prefix: values.prefix } : values["sys-prefix"] ? { sysPrefix: true } : values.user ? { user: true } : {};
      const { dir, tool } = installKernel({ scope, python: values.python });
      process.stdout.write(`installed Jupyter kernel "${KERNEL_NAME}" (${KERNEL_DISPLAY_NAME}) in ${dir}\nvia ${tool.description}\n`);
      if (values.prefix !== undefined) process.stdout.write(`Jupyter finds it with JUPYTER_PATH=${values.prefix}/share/jupyter\n`);
      if (!danfojsInstalled()) {
        process.stdout.write(`optional: result.toDataFrame() needs danfojs (with TensorFlow.js, ~390 MB): ${DANFOJS_INSTALL}\n`);
      }
      return EXIT.OK;
    }
    if (action === "uninstall") {
      if (values.user || values["sys-prefix"]) throw new UsageError("uninstall takes --prefix P or nothing (Jupyter then removes the kernel it would use)");
      const dir = uninstallKernel({ prefix: values.prefix, python: values.python });
      process.stdout.write(dir ? `removed Jupyter kernel "${KERNEL_NAME}" from ${dir}\n` : `no Jupyter kernel "${KERNEL_NAME}" was installed\n`);
      return EXIT.OK;
    }
  } catch (err) {
    if (err instanceof JupyterMissing || (err instanceof WerkplaatsError && err.code === "BAD_INPUT")) {
      process.stderr.write(`werkplaats kernel: ${err.message}\n`);
      return EXIT.BAD_INPUT;
    }
    throw err;
  }
  throw new UsageError(action ? `unknown kernel action "${action}"\n\n${HELP}` : HELP);
}

/** Whether the SDK can import danfojs (an optional peer dependency), from where it is installed. */
function danfojsInstalled(): boolean {
  try {
    createRequire(import.meta.url).resolve("danfojs");
    return true;
  } catch {
    return false;
  }
}
