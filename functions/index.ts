/** Mounts every endpoint. One file per endpoint; no logic here. */
import type { App } from "../lib/app.ts";
import { registerAnalyses } from "./analyses.ts";
import { registerAnalyze } from "./analyze.ts";
import { registerBackup } from "./backup.ts";
import { registerBackups } from "./backups.ts";
import { registerDocs } from "./docs.ts";
import { registerHealth } from "./health.ts";
import { registerMetrics } from "./metrics.ts";
import { registerPing } from "./ping.ts";
import { registerSync } from "./sync.ts";
import { registerSyncState } from "./sync-state.ts";

export function registerFunctions(app: App) {
  registerPing(app);
  registerHealth(app);
  registerSync(app);
  registerSyncState(app);
  registerBackup(app);
  registerBackups(app);
  registerAnalyze(app);
  registerAnalyses(app);
  registerMetrics(app);
  registerDocs(app);
}
