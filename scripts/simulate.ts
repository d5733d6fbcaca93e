/**
 * The simulator's old entry point, kept because tests, agents and habits run
 * `bun scripts/simulate.ts …` and its own hints name it. The code is in
 * scripts/simulate/ (the CLI: cli.ts; the API: index.ts).
 */
import { runCli } from "./simulate/cli.ts";

await runCli(process.argv.slice(2));
