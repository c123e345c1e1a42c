import { resolveConnection } from "./connection.ts";
import { exitOf } from "./errors.ts";
import { buildProgram } from "./program.ts";

const program = buildProgram();
const argv = process.argv.slice(2);
try {
  if (argv.length === 0) program.outputHelp();
  else await program.parseAsync(argv, { from: "user" });
} catch (error) {
  const { code, message } = exitOf(error, () => resolveConnection(program.opts(), process.env).apiUrl);
  if (message) console.error(message);
  process.exitCode = code;
}
// Servers (api, worker, up) keep running until stopped; every other command exits with its code.
if (process.exitCode !== undefined || !["api", "worker", "up"].includes(argv[0] ?? "")) process.exit(process.exitCode ?? 0);
