/**
 * The numbers drive analysis judges by: the statistics measure time above
 * THRESHOLDS, and the rule-based findings (findings.ts) decide on LIMITS.
 * Both sides import this file, so neither imports the other.
 */
/** The limits every rule decides on, for a 1998 Eclipse 2.0 turbo (4G63) on the stock cooling and charging systems. */
export const LIMITS = {
  /** The fan switch point (the thermostat opens at 88 °C): time above it is reported… */
  coolantHotC: 100,
  /** …a fan catching up in traffic overshoots it by a degree; a peak past this means the fan is losing… */
  coolantWarnC: 102,
  /** …and so does sitting above coolantHotC this long. */
  coolantWarnSeconds: 120,
  /** Near where the 0.9 bar cap and a weak mix start to boil and head gaskets suffer: stop and look. */
  coolantCriticalC: 105,
  /** Operating temperature: closed-loop fuelling and full timing from here. */
  warmC: 80,
  /** A drive that starts below this is a cold start, the only kind whose warm-up time says anything. */
  coldStartC: 40,
  /** A healthy 4G63 driven from cold gains at least this many °C per minute until warmC; slower points at a thermostat stuck open. */
  warmUpCPerMinute: 3,
  /** |STFT + LTFT| above this is the ECU correcting for a fault (vacuum/boost leak, MAF, injectors, fuel pressure). */
  fuelTrimPct: 10,
  /** The ECU's correction is near its authority (about ±25 %): drivability and knock risk follow. */
  fuelTrimCriticalPct: 20,
  /** Intake air hotter than this at the 95th percentile is intercooler heat soak past the usual ambient + 25 °C of traffic on a hot day: less power, more knock retard. */
  intakeHotC: 55,
  /** Warm idle should hold within a few dozen rpm; more hunting points at the idle air control, a vacuum leak or misfire. */
  idleRpmStd: 75,
  /** Fewer warm-idle readings than this cannot tell hunting from noise. */
  idleMinReadings: 30,
  /** Below this with the engine running the alternator is not keeping the battery charged. */
  lowVolts: 12.0,
  /** Above this the regulator overcharges, boiling the battery and stressing electronics. */
  highVolts: 15.0,
  /** A voltage finding needs this long outside the band, so one misread sample is not a fault. */
  voltsMinSeconds: 5,
} as const;

/** The thresholds whose time-above drive-stats reports per parameter (ParameterStats.above). */
export const THRESHOLDS: Readonly<Record<string, readonly number[]>> = {
  COOLANT_TEMP: [LIMITS.coolantHotC, LIMITS.coolantCriticalC],
  INTAKE_TEMP: [LIMITS.intakeHotC],
};
