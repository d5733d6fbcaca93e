/**
 * Rule-based findings: domain checks over a drive's statistics
 * (lib/analysis/drive-stats.ts) that need no LLM. Each message cites the numbers
 * it was decided on, and `evidence` carries the same numbers.
 */
import type { DriveStats } from "./drive-stats.ts";
import { LIMITS } from "./limits.ts";

export type Finding = {
  /** The rules below; baseline_anomaly and trend come from the drive's history (history.ts), dtc from its trouble codes (dtcs.ts). */
  code:
    | "coolant_overtemp"
    | "fuel_trim_lean"
    | "fuel_trim_rich"
    | "slow_warmup"
    | "high_intake_temp"
    | "idle_rpm_unstable"
    | "low_voltage"
    | "high_voltage"
    | "baseline_anomaly"
    | "trend"
    | "dtc";
  severity: "info" | "warning" | "critical";
  parameter: string;
  /** Human text citing the actual numbers, e.g. "Coolant peaked at 104 °C and stayed above 100 °C for 90 s". */
  message: string;
  /** The numbers the message cites, machine-readable. */
  evidence: Record<string, number>;
};

const round = (x: number, digits = 0) => Math.round(x * 10 ** digits) / 10 ** digits;
const signed = (x: number) => `${x > 0 ? "+" : ""}${x.toFixed(1)}`;

/** "45 s", "3 min 20 s" */
export function duration(seconds: number): string {
  const s = Math.round(seconds);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

/** Each rule returns its finding, or null when the drive gives it nothing to say. */
const RULES: ((s: DriveStats) => Finding | null)[] = [
  function coolantOvertemp({ parameters }): Finding | null {
    const coolant = parameters.find((p) => p.parameter === "COOLANT_TEMP");
    if (!coolant || coolant.max <= LIMITS.coolantHotC) return null;
    const secondsAbove = (t: number) => round(coolant.above.find((a) => a.threshold === t)?.seconds ?? 0);
    const peakC = round(coolant.max);
    const hot = secondsAbove(LIMITS.coolantHotC);
    if (coolant.max > LIMITS.coolantCriticalC) {
      const crit = secondsAbove(LIMITS.coolantCriticalC);
      return {
        code: "coolant_overtemp",
        severity: "critical",
        parameter: "COOLANT_TEMP",
        message: `Coolant peaked at ${peakC} °C, above ${LIMITS.coolantCriticalC} °C for ${crit} s and above ${LIMITS.coolantHotC} °C for ${hot} s`,
        evidence: { peakC, criticalC: LIMITS.coolantCriticalC, secondsAboveCritical: crit, thresholdC: LIMITS.coolantHotC, secondsAbove: hot },
      };
    }
    if (coolant.max <= LIMITS.coolantWarnC && hot < LIMITS.coolantWarnSeconds) return null;
    return {
      code: "coolant_overtemp",
      severity: "warning",
      parameter: "COOLANT_TEMP",
      message: `Coolant peaked at ${peakC} °C and stayed above ${LIMITS.coolantHotC} °C for ${hot} s`,
      evidence: { peakC, thresholdC: LIMITS.coolantHotC, secondsAbove: hot },
    };
  },

  function fuelTrim({ facts: { fuelTrim } }) {
    if (fuelTrim.total === null || Math.abs(fuelTrim.total) <= LIMITS.fuelTrimPct) return null;
    const [totalPct, stftPct, ltftPct] = [fuelTrim.total, fuelTrim.stft!, fuelTrim.ltft!].map((x) => round(x, 1)) as [number, number, number];
    const lean = totalPct > 0;
    return {
      code: lean ? "fuel_trim_lean" : "fuel_trim_rich",
      severity: Math.abs(fuelTrim.total) > LIMITS.fuelTrimCriticalPct ? "critical" : "warning",
      parameter: "LONG_FUEL_TRIM_1",
      message: `Fuel trims averaged ${signed(totalPct)} % (short-term ${signed(stftPct)} %, long-term ${signed(ltftPct)} %), beyond ±${LIMITS.fuelTrimPct} %: the engine runs ${lean ? "lean and the ECU is adding fuel" : "rich and the ECU is removing fuel"}`,
      evidence: { totalPct, stftPct, ltftPct, limitPct: LIMITS.fuelTrimPct },
    };
  },

  function slowWarmUp({ facts }): Finding | null {
    const startC = facts.startCoolantC;
    if (startC == null || startC >= LIMITS.coldStartC || facts.maxCoolantC === null) return null;
    // The colder the start, the longer a healthy warm-up takes.
    const limitSeconds = round(((LIMITS.warmC - startC) / LIMITS.warmUpCPerMinute) * 60);
    const expected = `a healthy engine gains ${LIMITS.warmUpCPerMinute} °C/min, so within ${duration(limitSeconds)}`;
    if (facts.warmUpSeconds !== null) {
      if (facts.warmUpSeconds <= limitSeconds) return null;
      const warmUpSeconds = round(facts.warmUpSeconds);
      const perMinute = round((LIMITS.warmC - startC) / (warmUpSeconds / 60), 1);
      return {
        code: "slow_warmup",
        severity: "warning",
        parameter: "COOLANT_TEMP",
        message: `Coolant took ${duration(warmUpSeconds)} to rise from ${round(startC)} °C to ${LIMITS.warmC} °C (${perMinute} °C/min; ${expected}): check the thermostat`,
        evidence: { warmUpSeconds, startC: round(startC), warmC: LIMITS.warmC, perMinute, limitSeconds },
      };
    }
    // Never warm: only a drive longer than the limit can tell a slow warm-up from a short drive.
    if (facts.durationSeconds <= limitSeconds) return null;
    const durationSeconds = round(facts.durationSeconds);
    const maxC = round(facts.maxCoolantC);
    return {
      code: "slow_warmup",
      severity: "warning",
      parameter: "COOLANT_TEMP",
      message: `Coolant never reached ${LIMITS.warmC} °C in a ${duration(durationSeconds)} drive, rising from ${round(startC)} °C to at most ${maxC} °C (${expected}): check the thermostat`,
      evidence: { durationSeconds, startC: round(startC), maxC, warmC: LIMITS.warmC, limitSeconds },
    };
  },

  function highIntakeTemp({ parameters }) {
    const iat = parameters.find((p) => p.parameter === "INTAKE_TEMP");
    if (!iat || iat.p95 <= LIMITS.intakeHotC) return null;
    const [p95C, maxC] = [round(iat.p95), round(iat.max)];
    const secondsAbove = round(iat.above.find((a) => a.threshold === LIMITS.intakeHotC)?.seconds ?? 0);
    return {
      code: "high_intake_temp",
      severity: "warning",
      parameter: "INTAKE_TEMP",
      message: `Intake air was ${p95C} °C at the 95th percentile (peak ${maxC} °C, above ${LIMITS.intakeHotC} °C for ${secondsAbove} s): the intercooler is heat-soaking`,
      evidence: { p95C, maxC, thresholdC: LIMITS.intakeHotC, secondsAbove },
    };
  },

  function idleRpmUnstable({ facts: { idleRpm } }) {
    if (!idleRpm || idleRpm.count < LIMITS.idleMinReadings || idleRpm.std <= LIMITS.idleRpmStd) return null;
    const [stdRpm, meanRpm, minRpm, maxRpm] = [idleRpm.std, idleRpm.mean, idleRpm.min, idleRpm.max].map((x) => round(x)) as [number, number, number, number];
    return {
      code: "idle_rpm_unstable",
      severity: "warning",
      parameter: "RPM",
      message: `Warm idle hunted: ${meanRpm} rpm on average with a standard deviation of ${stdRpm} rpm (limit ${LIMITS.idleRpmStd}), between ${minRpm} and ${maxRpm} rpm over ${idleRpm.count} readings`,
      evidence: { stdRpm, meanRpm, minRpm, maxRpm, readings: idleRpm.count, limitRpm: LIMITS.idleRpmStd },
    };
  },

  function lowVoltage({ facts: { runningVoltage: v } }) {
    if (!v || v.secondsBelow < LIMITS.voltsMinSeconds) return null;
    const [minV, secondsBelow] = [round(v.min, 2), round(v.secondsBelow)];
    return {
      code: "low_voltage",
      severity: "warning",
      parameter: "CONTROL_MODULE_VOLTAGE",
      message: `Control-module voltage fell to ${minV.toFixed(2)} V with the engine running, below ${LIMITS.lowVolts.toFixed(1)} V for ${secondsBelow} s: the alternator is not keeping up`,
      evidence: { minV, thresholdV: LIMITS.lowVolts, secondsBelow },
    };
  },

  function highVoltage({ facts: { runningVoltage: v } }) {
    if (!v || v.secondsAbove < LIMITS.voltsMinSeconds) return null;
    const [maxV, secondsAbove] = [round(v.max, 2), round(v.secondsAbove)];
    return {
      code: "high_voltage",
      severity: "warning",
      parameter: "CONTROL_MODULE_VOLTAGE",
      message: `Control-module voltage rose to ${maxV.toFixed(2)} V with the engine running, above ${LIMITS.highVolts.toFixed(1)} V for ${secondsAbove} s: the voltage regulator is overcharging`,
      evidence: { maxV, thresholdV: LIMITS.highVolts, secondsAbove },
    };
  },
];

const RANK = { critical: 0, warning: 1, info: 2 };

/** Most severe first; sort is stable, so equally severe findings keep their order. */
export const bySeverity = (list: Finding[]) => list.sort((a, b) => RANK[a.severity] - RANK[b.severity]);

/** The findings for one drive, most severe first. */
export function findings(stats: DriveStats): Finding[] {
  return bySeverity(RULES.map((rule) => rule(stats)).filter((f): f is Finding => f !== null));
}
