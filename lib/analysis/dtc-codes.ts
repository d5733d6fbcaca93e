/**
 * What a trouble code means, from a table the project owns, so an analysis
 * does not depend on the text a Pi happened to store.
 *
 * Sources:
 * - P0xxx: the generic powertrain definitions of SAE J2012 (the wording of
 *   its 2002 edition, which every OBD-II scan tool reproduces), for the
 *   codes a 1990s four-cylinder turbo can set: air and fuel metering, O2
 *   sensors, injectors, boost, misfire, knock and position sensors,
 *   emissions, idle, voltage, the control module and the transmission. The
 *   standard's later additions (P0xxx beyond these) fall back to the Pi's text.
 * - P1xxx: Mitsubishi's own codes for the 1995-99 Eclipse/Talon (DSM) with
 *   the 4G63 turbo, as its service manual (group 13A, "Multipoint fuel
 *   injection <4G63-Turbo>") lists them. Only codes that manual defines are
 *   here; manufacturer codes mean different things on other makes.
 */

const GENERIC: Record<string, string> = {
  P0100: "Mass or volume air flow circuit malfunction",
  P0101: "Mass or volume air flow circuit range/performance problem",
  P0102: "Mass or volume air flow circuit low input",
  P0103: "Mass or volume air flow circuit high input",
  P0105: "Manifold absolute pressure/barometric pressure circuit malfunction",
  P0106: "Manifold absolute pressure/barometric pressure circuit range/performance problem",
  P0107: "Manifold absolute pressure/barometric pressure circuit low input",
  P0108: "Manifold absolute pressure/barometric pressure circuit high input",
  P0110: "Intake air temperature circuit malfunction",
  P0111: "Intake air temperature circuit range/performance problem",
  P0112: "Intake air temperature circuit low input",
  P0113: "Intake air temperature circuit high input",
  P0115: "Engine coolant temperature circuit malfunction",
  P0116: "Engine coolant temperature circuit range/performance problem",
  P0117: "Engine coolant temperature circuit low input",
  P0118: "Engine coolant temperature circuit high input",
  P0120: "Throttle position sensor/switch A circuit malfunction",
  P0121: "Throttle position sensor/switch A circuit range/performance problem",
  P0122: "Throttle position sensor/switch A circuit low input",
  P0123: "Throttle position sensor/switch A circuit high input",
  P0125: "Insufficient coolant temperature for closed loop fuel control",
  P0128: "Coolant thermostat (coolant temperature below thermostat regulating temperature)",
  P0130: "O2 sensor circuit malfunction (bank 1 sensor 1)",
  P0131: "O2 sensor circuit low voltage (bank 1 sensor 1)",
  P0132: "O2 sensor circuit high voltage (bank 1 sensor 1)",
  P0133: "O2 sensor circuit slow response (bank 1 sensor 1)",
  P0134: "O2 sensor circuit no activity detected (bank 1 sensor 1)",
  P0135: "O2 sensor heater circuit malfunction (bank 1 sensor 1)",
  P0136: "O2 sensor circuit malfunction (bank 1 sensor 2)",
  P0137: "O2 sensor circuit low voltage (bank 1 sensor 2)",
  P0138: "O2 sensor circuit high voltage (bank 1 sensor 2)",
  P0139: "O2 sensor circuit slow response (bank 1 sensor 2)",
  P0140: "O2 sensor circuit no activity detected (bank 1 sensor 2)",
  P0141: "O2 sensor heater circuit malfunction (bank 1 sensor 2)",
  P0170: "Fuel trim malfunction (bank 1)",
  P0171: "System too lean (bank 1)",
  P0172: "System too rich (bank 1)",
  P0200: "Injector circuit malfunction",
  P0201: "Injector circuit malfunction, cylinder 1",
  P0202: "Injector circuit malfunction, cylinder 2",
  P0203: "Injector circuit malfunction, cylinder 3",
  P0204: "Injector circuit malfunction, cylinder 4",
  P0217: "Engine overtemperature condition",
  P0230: "Fuel pump primary circuit malfunction",
  P0234: "Engine overboost condition",
  P0300: "Random/multiple cylinder misfire detected",
  P0301: "Cylinder 1 misfire detected",
  P0302: "Cylinder 2 misfire detected",
  P0303: "Cylinder 3 misfire detected",
  P0304: "Cylinder 4 misfire detected",
  P0325: "Knock sensor 1 circuit malfunction (bank 1 or single sensor)",
  P0326: "Knock sensor 1 circuit range/performance (bank 1 or single sensor)",
  P0327: "Knock sensor 1 circuit low input (bank 1 or single sensor)",
  P0328: "Knock sensor 1 circuit high input (bank 1 or single sensor)",
  P0335: "Crankshaft position sensor A circuit malfunction",
  P0336: "Crankshaft position sensor A circuit range/performance",
  P0340: "Camshaft position sensor circuit malfunction",
  P0341: "Camshaft position sensor circuit range/performance",
  P0351: "Ignition coil A primary/secondary circuit malfunction",
  P0352: "Ignition coil B primary/secondary circuit malfunction",
  P0400: "Exhaust gas recirculation flow malfunction",
  P0401: "Exhaust gas recirculation flow insufficient detected",
  P0402: "Exhaust gas recirculation flow excessive detected",
  P0403: "Exhaust gas recirculation circuit malfunction",
  P0420: "Catalyst system efficiency below threshold (bank 1)",
  P0421: "Warm up catalyst efficiency below threshold (bank 1)",
  P0440: "Evaporative emission control system malfunction",
  P0441: "Evaporative emission control system incorrect purge flow",
  P0442: "Evaporative emission control system leak detected (small leak)",
  P0443: "Evaporative emission control system purge control valve circuit malfunction",
  P0446: "Evaporative emission control system vent control circuit malfunction",
  P0450: "Evaporative emission control system pressure sensor malfunction",
  P0455: "Evaporative emission control system leak detected (gross leak)",
  P0500: "Vehicle speed sensor malfunction",
  P0505: "Idle control system malfunction",
  P0506: "Idle control system RPM lower than expected",
  P0507: "Idle control system RPM higher than expected",
  P0510: "Closed throttle position switch malfunction",
  P0550: "Power steering pressure sensor circuit malfunction",
  P0560: "System voltage malfunction",
  P0562: "System voltage low",
  P0563: "System voltage high",
  P0600: "Serial communication link malfunction",
  P0601: "Internal control module memory check sum error",
  P0605: "Internal control module read only memory (ROM) error",
  P0700: "Transmission control system malfunction",
  P0705: "Transmission range sensor circuit malfunction (PRNDL input)",
  P0715: "Input/turbine speed sensor circuit malfunction",
  P0720: "Output speed sensor circuit malfunction",
  P0740: "Torque converter clutch circuit malfunction",
  P0750: "Shift solenoid A malfunction",
  P0755: "Shift solenoid B malfunction",
};

const DSM_4G63: Record<string, string> = {
  P1103: "Turbocharger waste gate actuator malfunction",
  P1104: "Turbocharger waste gate solenoid circuit malfunction",
  P1105: "Fuel pressure control solenoid circuit malfunction",
  P1300: "Ignition timing adjustment circuit malfunction",
  P1400: "Manifold differential pressure sensor circuit malfunction",
  P1500: "Generator (alternator) FR terminal circuit malfunction",
  P1600: "Serial communication link malfunction (engine and transmission control units)",
  P1715: "Pulse generator assembly (transmission) malfunction",
  P1750: "Transmission solenoid assembly malfunction",
  P1751: "Transmission control relay malfunction",
};

/** The code's meaning: the table's, else the text the Pi stored, else null. */
export function dtcDescription(code: string, piText?: string | null): string | null {
  const known = GENERIC[code] ?? DSM_4G63[code];
  if (known) return known;
  return piText?.trim() ? piText.trim() : null;
}
