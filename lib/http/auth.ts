/**
 * API keys. `X-API-Key` is either the server's API_KEY, valid for every
 * device, or a per-device key `<deviceId>.<secret>` issued by
 * `npm run device -- add <id>`. Only a salted hash of a device key is stored.
 * Comparisons are constant-time over fixed-length digests.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { z } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv, Auth } from "./env.ts";
import { DEVICE_ID, deviceIdProblem } from "../device-id.ts";
import { driveById, type AnalysedDrive } from "../drives/list.ts";
import { ApiError } from "./errors.ts";
import { apiSession } from "./session.ts";

/** Routes anyone may call: the Pi's reachability probe, health, and the API description. */
const PUBLIC_PATHS = new Set(["/api/v1/health", "/api/v1/ping", "/api/v1/openapi.json"]);

/** A device id as every endpoint accepts it (lib/device-id.ts). */
export const DeviceIdSchema = z
  .string({ error: (iss) => (iss.input === undefined ? "is required" : "must be a string") })
  .superRefine((id, ctx) => {
    const problem = deviceIdProblem(id);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  })
  .openapi({ example: "eclipse-pi", pattern: DEVICE_ID.source });

const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest();

/** Constant-time equality of two strings of any length. */
function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(sha256(a), sha256(b));
}

function hashDeviceSecret(secret: string, salt = randomBytes(16).toString("hex")): string {
  return `sha256$${salt}$${sha256(salt + secret).toString("hex")}`;
}

function verifyDeviceSecret(secret: string, stored: string): boolean {
  const [scheme, salt, digest] = stored.split("$");
  if (scheme !== "sha256" || !salt || !digest) return false;
  return sameSecret(hashDeviceSecret(secret, salt), stored);
}

/** A fresh device key and the hash to store for it. */
export function newDeviceKey(deviceId: string): { key: string; hash: string } {
  const secret = randomBytes(32).toString("base64url");
  return { key: `${deviceId}.${secret}`, hash: hashDeviceSecret(secret) };
}

/**
 * Who the request's X-API-Key belongs to, or without one its dashboard
 * session cookie (CSRF-checked when it changes state); throws 401 when
 * neither is there or valid.
 */
export async function authenticate(c: Context<AppEnv>): Promise<Auth> {
  const key = c.req.header("x-api-key");
  if (!key) {
    const session = await apiSession(c);
    if (session) return session.auth;
    throw new ApiError(401, "Missing API key");
  }
  const auth = await authenticateKey(c, key);
  if (!auth) throw new ApiError(401, "Invalid API key");
  return auth;
}

/** Who `key` belongs to: the admin key, a device's current key, or nobody. */
export async function authenticateKey(c: Context<AppEnv>, key: string): Promise<Auth | undefined> {
  const { config, db } = c.var.deps;
  if (sameSecret(key, config.API_KEY)) return { kind: "admin" };
  // The secret is base64url, which has no ".", so the last "." ends the device id (which may contain dots).
  const dot = key.lastIndexOf(".");
  const deviceId = key.slice(0, dot);
  if (dot > 0 && DEVICE_ID.test(deviceId)) {
    const device = await db.prisma.devices.findUnique({ where: { device_id: deviceId }, select: { api_key_hash: true } });
    if (device?.api_key_hash && verifyDeviceSecret(key.slice(dot + 1), device.api_key_hash)) {
      c.var.deps.metrics.knownDevice(deviceId);
      return { kind: "device", deviceId };
    }
  }
  return undefined;
}

export function apiKeyAuth(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (PUBLIC_PATHS.has(c.req.path)) return next();
    c.set("auth", await authenticate(c));
    return next();
  };
}

/** Whether the request's key may act for `deviceId`: the admin key for every device, a device key for its own. */
export function mayActFor(c: Context<AppEnv>, deviceId: string): boolean {
  const auth = c.var.auth;
  return auth.kind === "admin" || auth.deviceId === deviceId;
}

/**
 * Throws 403 unless the request's key may act for `deviceId`; for a dashboard
 * session, 404, so a device's session learns nothing of other devices.
 */
export function requireDevice(c: Context<AppEnv>, deviceId: string): void {
  if (mayActFor(c, deviceId)) return;
  if (c.var.session) throw new ApiError(404, "Not found");
  throw new ApiError(403, `API key not valid for device ${deviceId}`);
}

/**
 * The device a listing is for: the one asked for (if the key may act for it),
 * else a device key's own device; undefined means every device (the admin key).
 */
export function listedDevice(c: Context<AppEnv>, requested: string | undefined): string | undefined {
  const auth = c.var.auth;
  const deviceId = requested ?? (auth.kind === "device" ? auth.deviceId : undefined);
  if (deviceId) requireDevice(c, deviceId);
  return deviceId;
}

/**
 * The drive a request names, or a 404 for one that does not exist or is
 * another device's while a device key or session asks: it learns nothing of
 * other devices, not even that their drives exist.
 */
export async function visibleDrive(c: Context<AppEnv>, deviceId: string, driveId: string): Promise<AnalysedDrive> {
  const notFound = new ApiError(404, `Drive ${driveId} of device ${deviceId} not found`);
  const auth = c.var.auth;
  if (auth.kind === "device" && auth.deviceId !== deviceId) throw notFound;
  const drive = await driveById(c.var.deps.db.pool, deviceId, Number(driveId));
  if (!drive) throw notFound;
  return drive;
}
