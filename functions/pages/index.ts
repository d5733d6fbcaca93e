/**
 * The dashboard: its assets and one file per page, mounted on the app by
 * createApp. Phase 2's pages (drives, a drive, trends) are lines here.
 */
import type { App } from "../../lib/http/env.ts";
import { registerAssets } from "./assets.ts";
import { registerBackupsPage } from "./backups.tsx";
import { registerDrivePage } from "./drive.tsx";
import { registerLoginPage } from "./login.tsx";
import { registerOverviewPage } from "./overview.tsx";
import { registerSyncHistoryPage } from "./sync-history.tsx";

export function registerPages(app: App) {
  registerAssets(app);
  registerLoginPage(app);
  registerOverviewPage(app);
  registerBackupsPage(app);
  registerDrivePage(app);
  registerSyncHistoryPage(app);
}
