/** Mounts every endpoint. One file per endpoint; no logic here. */
import type { App } from "../lib/app.ts";
import { registerBackup } from "./backup.ts";
import { registerBackups } from "./backups.ts";
import { registerDocs } from "./docs.ts";
import { registerHealth } from "./health.ts";
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
  registerDocs(app);
}
