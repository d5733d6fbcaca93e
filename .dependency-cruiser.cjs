/**
 * The import graph's rules (npm run lint:deps; tests/architecture.test.ts runs
 * it too, so CI fails on a new circle). Layers point only downward:
 * scripts/ and bench/ → functions/ → lib/. The Pi agent in client/ may use
 * only lib/'s shared kernel at run time, which keeps the binary small.
 */
const KERNEL = "^lib/(time|dotenv|device-id|version|tables)\\.ts$";

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment: "A circle (type-only imports included) means two modules cannot be understood, or moved, apart.",
      from: {},
      to: { circular: true },
    },
    {
      name: "lib-not-up",
      severity: "error",
      comment: "lib/ is the bottom layer: it never imports the endpoints, the entries, the benches, the tests or the agent.",
      from: { path: "^lib/" },
      to: { path: "^(functions|scripts|bench|tests|client)/" },
    },
    {
      name: "functions-not-up",
      severity: "error",
      comment: "Endpoints use lib/ only; entries and tools sit above them.",
      from: { path: "^functions/" },
      to: { path: "^(scripts|bench|tests|client)/" },
    },
    {
      name: "client-kernel-only",
      severity: "error",
      comment: "The Pi agent bundles only lib/'s shared kernel; server modules may be imported for their types alone.",
      from: { path: "^client/" },
      to: { path: "^lib/", pathNot: KERNEL, dependencyTypesNot: ["type-only"] },
    },
    {
      name: "client-not-server",
      severity: "error",
      comment: "The agent never imports endpoints, entries, benches or tests.",
      from: { path: "^client/" },
      to: { path: "^(functions|scripts|bench|tests)/" },
    },
    {
      name: "not-to-unresolvable",
      severity: "error",
      comment: "An import that does not resolve is a typo or a missing dependency.",
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: ["node_modules", "^lib/db/generated/"] },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "require", "node", "default", "types"] },
    // bun:sqlite, bun:test and the like are the runtime's own modules.
    exclude: { path: "^bun:" },
  },
};
