/** @jsxRuntime automatic @jsxImportSource hono/jsx */
/**
 * GET /backups: the stored backups per device and type, newest first, with
 * size, age, sha256, whether the digest was confirmed, and a download link
 * (GET /api/v1/backups/...). POST /backups/verify re-reads one backup on disk
 * against its recorded sha256 and records the result.
 */
import type { App } from "../../lib/http/env.ts";
import { checkKey, readChecks, recordCheck, rehash, type BackupCheck } from "../../lib/backup/checks.ts";
import { BackupTypeSchema, listBackups, storedBackupPath, type StoredBackup } from "../../lib/backup/store.ts";
import { Ago, bytes, Level } from "./components/format.tsx";
import { CsrfField, notFound, page } from "./components/layout.tsx";
import { checkedForm, smallForm } from "./form.ts";
import { PAGE } from "./middleware.ts";
import { DevicePicker, pageDevices } from "./scope.tsx";

function Verified({ check, now }: { check: BackupCheck | undefined; now: Date }) {
  if (!check) return <Level level="warn">not verified</Level>;
  if (!check.matched) return <Level level="bad">digest mismatch (checked <Ago at={check.checkedAt} now={now} />)</Level>;
  return <Level level="ok">{check.method === "upload" ? "verified at upload" : <>verified on disk <Ago at={check.checkedAt} now={now} /></>}</Level>;
}

const downloadUrl = (b: StoredBackup) => `/api/v1/backups/${encodeURIComponent(b.deviceId)}/${b.type}/${encodeURIComponent(b.filename)}`;

function BackupTable({ backups, checks, now, csrf }: { backups: StoredBackup[]; checks: Map<string, BackupCheck>; now: Date; csrf: string }) {
  return (
    <div class="scroll">
      <table class="stack">
        <thead>
          <tr>
            <th>stored</th>
            <th class="num">size</th>
            <th>sha256</th>
            <th>verified</th>
            <th></th>
          </tr>
        </thead>
        <tbody>
          {backups.map((b) => (
            <tr data-backup={b.filename} id={b.filename}>
              <td data-label="stored">
                <Ago at={b.storedAt} now={now} />
                <br />
                <code class="muted">{b.filename}</code>
              </td>
              <td class="num" data-label="size" data-field="size" data-value={String(b.sizeBytes)}>
                {bytes(b.sizeBytes)}
              </td>
              <td data-label="sha256">
                <span class="hash" data-field="sha256">
                  {b.sha256 ?? "(no sidecar)"}
                </span>
              </td>
              <td data-label="verified" data-field="verified">
                <Verified check={checks.get(checkKey(b))} now={now} />
              </td>
              <td data-label="">
                <a href={downloadUrl(b)} download={b.filename} data-field="download">
                  Download
                </a>
                {b.sha256 ? (
                  <form class="inline" method="post" action="/backups/verify">
                    <CsrfField token={csrf} />
                    <input type="hidden" name="deviceId" value={b.deviceId} />
                    <input type="hidden" name="type" value={b.type} />
                    <input type="hidden" name="filename" value={b.filename} />{" "}
                    <button type="submit">Verify</button>
                  </form>
                ) : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function registerBackupsPage(app: App) {
  app.get("/backups", ...PAGE, async (c) => {
    const scope = await pageDevices(c);
    if (!scope) return notFound(c);
    const { config, db, clock } = c.var.deps;
    const now = clock.now();
    const checks = await readChecks(db.pool, scope.shown);
    const sections = [];
    for (const deviceId of scope.shown) {
      const backups = await listBackups(config.BACKUP_DIR, { deviceId });
      const types = BackupTypeSchema.options.filter((t) => backups.some((b) => b.type === t));
      sections.push(
        <section data-device={deviceId}>
          <h2>{deviceId}</h2>
          {types.length === 0 ? <p class="muted">No backups yet. The Pi's agent uploads one a day (obd2-sync run), or now with obd2-sync backup.</p> : null}
          {types.map((type) => (
            <div data-type={type}>
              <h3>{type}</h3>
              <BackupTable backups={backups.filter((b) => b.type === type)} checks={checks} now={now} csrf={c.var.session!.csrf} />
            </div>
          ))}
        </section>,
      );
    }
    return page(
      c,
      { title: "Backups", active: "/backups" },
      <>
        <DevicePicker path="/backups" devices={scope.all} selected={scope.selected} />
        {sections}
      </>,
    );
  });

  app.post("/backups/verify", ...PAGE, smallForm, async (c) => {
    const { fields: form, refusal } = await checkedForm(c);
    if (refusal) return refusal;
    const type = BackupTypeSchema.safeParse(form.type);
    const scope = await pageDevices(c);
    const deviceId = form.deviceId ?? "";
    if (!type.success || !scope?.all.includes(deviceId) || !form.filename) return notFound(c);
    const path = storedBackupPath(c.var.deps.config.BACKUP_DIR, deviceId, type.data, form.filename);
    const matched = path ? await rehash(path).catch(() => undefined) : undefined;
    if (matched === undefined || matched === null) return notFound(c);
    const backup = { deviceId, type: type.data, filename: form.filename };
    await recordCheck(c.var.deps.db.pool, backup, { matched, method: "rehash", checkedAt: c.var.deps.clock.now() });
    c.var.logger[matched ? "info" : "error"](backup, matched ? "backup verified on disk" : "backup on disk no longer matches its sha256");
    return c.redirect(`/backups?device=${encodeURIComponent(deviceId)}#${encodeURIComponent(form.filename)}`, 303);
  });
}
