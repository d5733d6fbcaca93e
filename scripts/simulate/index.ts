/**
 * `npm run simulate`: writes EclipseTuner-shaped SQLite files (the schema the
 * Pi writes) full of deterministic, physically plausible drives, because tests,
 * benches and demos may not use real captures. The same options always give
 * the same rows: a seeded PRNG drives everything, there is no wall clock, and
 * the physics uses only + - * / and sqrt, which round identically in Bun and
 * Node (Math.exp and friends may not).
 *
 * `--follow` plays a live logger instead: it appends readings at a set rate
 * until SIGTERM/SIGINT, so tests can push while rows keep arriving.
 *
 * This file is what code imports (tests, benches); the command line is cli.ts.
 */
export { simulate, UsageError, type SimulateOptions, type SimulateSummary } from "./drives.ts";
/** @public Imported by a script that tests/simulate.test.ts runs under Node, which knip cannot see. */
export { follow } from "./drives.ts";
export { createEclipseSchema } from "./schema.ts";
