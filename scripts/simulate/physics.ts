/**
 * The drive physics: a seeded PRNG and a car stepped once a second, whose
 * readings come out OBD-encoded. Only integer arithmetic and + - * / (never
 * Math.exp and friends), so Bun and Node compute the same readings bit for bit.
 */

/** sfc32 seeded through splitmix32: 32-bit integer arithmetic only, so every runtime draws the same numbers. */
export class Rng {
  private s = new Uint32Array(4);

  /** `stream` separates independent sequences under one seed (the run, each drive, the follower). */
  constructor(seed: number, stream: number) {
    let x = (seed >>> 0) ^ Math.imul(Math.floor(seed / 4294967296) >>> 0, 0x9e3779b9) ^ Math.imul(stream + 1, 0x85ebca6b);
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) | 0;
      let z = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      this.s[i] = z ^ (z >>> 16);
    }
    for (let i = 0; i < 12; i++) this.next();
  }

  /** Uniform in [0, 1). */
  next(): number {
    const s = this.s;
    const t = (s[0]! + s[1]! + s[3]!) | 0;
    s[3] = s[3]! + 1;
    s[0] = s[1]! ^ (s[1]! >>> 9);
    s[1] = s[2]! + (s[2]! << 3);
    s[2] = ((s[2]! << 21) | (s[2]! >>> 11)) + t;
    return (t >>> 0) / 4294967296;
  }

  between(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  /** Roughly normal noise with standard deviation sd (a sum of four uniforms: no log/cos needed). */
  noise(sd: number): number {
    return (this.next() + this.next() + this.next() + this.next() - 2) * sd * 1.7320508075688772;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
}

const clamp = (x: number, lo: number, hi: number) => (x < lo ? lo : x > hi ? hi : x);

/** Value as the ECU reports it: OBD-II's byte encodings, so values carry the Pi's real resolution. */
export const obd = {
  percent: (x: number) => (Math.round(clamp(x, 0, 100) * 2.55) * 100) / 255,
  trim: (x: number) => ((Math.round(clamp(x, -100, 99.2) * 1.28 + 128) - 128) * 100) / 128,
  temp: (x: number) => Math.round(clamp(x, -40, 215)),
  byte: (x: number) => Math.round(clamp(x, 0, 255)),
  step: (x: number, per: number, max: number) => Math.round(clamp(x, 0, max) * per) / per,
};

/** The PIDs polled every second, in poll order. */
export const PIDS = [
  { name: "RPM", unit: "rpm" },
  { name: "SPEED", unit: "km/h" },
  { name: "COOLANT_TEMP", unit: "°C" },
  { name: "ENGINE_LOAD", unit: "%" },
  { name: "MAF", unit: "g/s" },
  { name: "INTAKE_TEMP", unit: "°C" },
  { name: "THROTTLE_POS", unit: "%" },
  { name: "O2_B1S1", unit: "V" },
  { name: "SHORT_FUEL_TRIM_1", unit: "%" },
  { name: "LONG_FUEL_TRIM_1", unit: "%" },
  { name: "TIMING_ADVANCE", unit: "°" },
  { name: "INTAKE_PRESSURE", unit: "kPa" },
  { name: "CONTROL_MODULE_VOLTAGE", unit: "V" },
] as const;

/** Thresholds whose crossing the Pi records in alert_log. */
export const ALERTS = [
  { pid: 0, type: "rpm_redline", threshold: 6000 },
  { pid: 2, type: "coolant_overtemp", threshold: 100 },
] as const;

// 1998 Eclipse GS-T: 5-speed ratios, 4.153 final drive, 205/55R16 tyres (0.632 m).
const RPM_PER_KMH = [3.583, 1.947, 1.379, 1.03, 0.82].map((ratio) => ((ratio * 4.153 * 60) / 3.6 / (Math.PI * 0.632)));

/** A drive's length in one-second ticks, driving style, and the engine's state at key-on. */
export type CarSpec = { ticks: number; performance: boolean; ambient: number; coolant: number; ltft: number; overheat?: Overheat };

/** SimulateOptions.overheat in ticks. */
export type Overheat = { from: number; ticks: number; peakC: number };

type Segment = { kind: "idle" | "city" | "highway" | "traffic" | "pull"; target: number; left: number; gear: number; redline: number };

/** One drive's car: a speed plan, gearing, a turbo 4G63's air and fuel, and a cooling system, stepped once a second. */
export class Car {
  readonly values = new Float64Array(PIDS.length);
  private t = 0;
  private speed = 0;
  private seg: Segment = { kind: "idle", target: 0, left: 0, gear: 0, redline: 0 };
  private pulled = false;
  private o2Rich = false;
  private o2Left = 0;
  private stft = 0;
  private fan = false;
  private iat: number;
  private coolant: number;
  private ltft: number;
  private overheatBase = 0;

  constructor(
    private rng: Rng,
    private spec: CarSpec,
  ) {
    this.iat = spec.ambient + 8;
    this.coolant = spec.coolant;
    this.ltft = spec.ltft;
  }

  private plan(): void {
    const r = this.rng;
    const { ticks, performance } = this.spec;
    const left = ticks - this.t;
    const base = { gear: 0, redline: 0 };
    if (left <= 45) this.seg = { ...base, kind: "idle", target: 0, left };
    else if (this.t === 0) this.seg = { ...base, kind: "idle", target: 0, left: r.int(20, 45) };
    else if (this.speed > 25 && this.speed < 90 && (r.chance(performance ? 0.35 : 0.1) || (!this.pulled && this.t > Math.min(ticks * 0.4, 400)))) {
      // A pull in 2nd or 3rd until the driver lifts short of the 7,000 rpm limiter. Every drive long
      // enough gets at least one, so each day has redline data and alerts; performance drives get more.
      this.pulled = true;
      this.seg = { kind: "pull", target: 0, left: 25, gear: this.speed < 55 ? 2 : 3, redline: r.between(6100, 6700) };
    } else {
      const roll = r.next();
      if (roll < 0.2) this.seg = { ...base, kind: "idle", target: 0, left: r.int(10, 50) };
      else if (roll < 0.32 && this.coolant > 85) this.seg = { ...base, kind: "traffic", target: 0, left: r.int(120, 260) };
      else if (roll < 0.7) this.seg = { ...base, kind: "city", target: r.between(30, 65), left: r.int(40, 130) };
      else this.seg = { ...base, kind: "highway", target: r.between(85, 118), left: r.int(90, 260) };
    }
  }

  /** Advances one second and fills `values` (PIDS order, OBD-encoded). */
  step(): void {
    const r = this.rng;
    if (this.seg.left <= 0) this.plan();
    const seg = this.seg;
    seg.left--;
    this.t++;

    // Stop-and-go traffic creeps between 0 and 15 km/h.
    const target = seg.kind === "traffic" ? (this.t % 40 < 12 ? 15 : 0) : seg.target;
    let accel: number;
    if (seg.kind === "pull") {
      const perKmh = RPM_PER_KMH[seg.gear - 1]!;
      accel = 6 + 7 * clamp((this.speed * perKmh - 2500) / 2000, 0, 1) + r.noise(0.5);
      // The driver lifts at the redline they aimed for; the next segment starts from there.
      if ((this.speed + accel) * perKmh >= seg.redline) {
        accel = seg.redline / perKmh - this.speed;
        seg.left = 0;
      }
    } else {
      accel = clamp((target - this.speed) * 0.12, -8, seg.kind === "highway" ? 3.5 : 2.8) + r.noise(0.3);
    }
    this.speed = clamp(this.speed + accel, 0, 200);
    if (target === 0 && seg.kind !== "pull" && this.speed < 2) this.speed = 0;

    const warm = clamp((this.coolant - 20) / 50, 0, 1);
    const idle = 800 + 350 * (1 - warm) + r.noise(12);
    let gear = 0;
    if (seg.kind === "pull") gear = seg.gear;
    else if (this.speed >= 6 || (this.speed > 0 && accel > 0)) {
      const shift = this.spec.performance ? 3800 : 2700;
      gear = 1;
      while (gear < 5 && this.speed * RPM_PER_KMH[gear - 1]! > shift) gear++;
    }
    const rpm = gear === 0 ? idle : Math.max(this.speed * RPM_PER_KMH[gear - 1]!, gear === 1 ? idle + 350 : 0) + r.noise(6);

    const coasting = gear > 0 && accel < -0.8;
    const fuelCut = coasting && rpm > 1500 && warm === 1;
    let throttle: number;
    if (seg.kind === "pull") throttle = r.between(96, 100);
    else if (gear === 0 || coasting) throttle = 0;
    else throttle = clamp(6 + this.speed * 0.11 + Math.max(0, accel) * 6 + r.noise(1.2), 1, 90);

    let load: number;
    if (gear === 0) load = 19 + 8 * (1 - warm) + r.noise(1.2);
    else if (fuelCut) load = r.between(0, 4);
    else load = clamp(10 + throttle * 0.9 + r.noise(2), 5, 100);
    const boost = throttle > 80 ? clamp((rpm - 2800) * 0.03, 0, 70) : 0;
    const map = clamp(24 + load * 0.72 + boost + r.noise(0.8), 15, 250);
    const maf = (rpm / 60) * 1.02 * (map / 101.3) * (1 + r.noise(0.02));

    let timing: number;
    if (gear === 0) timing = 10 + r.noise(0.6);
    else if (boost > 0) timing = 16 - boost * 0.08 + rpm * 0.0006 + r.noise(0.5);
    else timing = 8 + (100 - load) * 0.22 + rpm * 0.0025 + r.noise(0.8);

    this.iat += (this.spec.ambient + (this.speed < 15 ? 24 : 6) + boost * 0.3 - this.iat) * 0.03;

    // Heat from burnt air; the thermostat opens at 88 °C and the fan cuts in at 101 °C.
    const heat = 0.015 + maf * 0.0032 + (seg.kind === "traffic" ? 0.08 : 0);
    let cooling = this.coolant > 88 ? (this.coolant - 88) * 0.012 * (0.25 + this.speed / 50) : 0;
    if (this.coolant > 101) this.fan = true;
    else if (this.coolant < 96) this.fan = false;
    if (this.fan) cooling += 0.12;
    this.coolant += heat - cooling;
    const oh = this.spec.overheat;
    if (oh && this.t > oh.from && this.t <= oh.from + oh.ticks) {
      // No random draws here, so the readings before the fault are those of the same run without it.
      if (this.t === oh.from + 1) this.overheatBase = this.coolant;
      const rise = Math.min(1, (2 * (this.t - oh.from)) / oh.ticks);
      this.coolant = Math.max(this.coolant, this.overheatBase + (oh.peakC - this.overheatBase) * rise);
    }

    // Closed loop once warm: the narrowband sensor switches rich/lean and short-term trim chases it.
    const closedLoop = this.coolant > 60 && throttle < 80 && !fuelCut;
    let o2: number;
    if (fuelCut) o2 = r.between(0.02, 0.06);
    else if (throttle >= 80) o2 = r.between(0.86, 0.92);
    else if (!closedLoop) o2 = r.between(0.7, 0.8);
    else {
      if (--this.o2Left <= 0) {
        this.o2Rich = !this.o2Rich;
        this.o2Left = r.int(1, 3);
      }
      o2 = this.o2Rich ? r.between(0.62, 0.88) : r.between(0.06, 0.3);
    }
    if (closedLoop) {
      this.stft = clamp(this.stft * 0.85 + (this.o2Rich ? -0.9 : 0.9) + r.noise(0.7), -12, 12);
      if (Math.abs(this.stft) > 5 && r.chance(0.01)) this.ltft += this.stft > 0 ? 0.78125 : -0.78125;
    } else this.stft = 0;

    const volts = 14.15 - (this.fan ? 0.25 : 0) - (gear === 0 ? 0.1 : 0) + r.noise(0.04);

    const v = this.values;
    v[0] = obd.step(rpm, 4, 16383.75);
    v[1] = obd.byte(this.speed);
    v[2] = obd.temp(this.coolant);
    v[3] = obd.percent(load);
    v[4] = obd.step(maf, 100, 655.35);
    v[5] = obd.temp(this.iat);
    v[6] = obd.percent(throttle);
    v[7] = obd.step(o2, 200, 1.275);
    v[8] = obd.trim(this.stft);
    v[9] = obd.trim(this.ltft);
    v[10] = obd.step(timing + 64, 2, 127.5) - 64;
    v[11] = obd.byte(map);
    v[12] = obd.step(volts, 1000, 65.535);
  }

  get coolantNow(): number {
    return this.coolant;
  }
}
