import type { SharedSetting } from "./settings.js";

export interface Difference {
  setting: SharedSetting;
  stored: string | number | boolean;
}

/**
 * The settings of this instance that differ from the deployment's stored
 * ones, split by what a difference does. A setting the stored row does not
 * name yet (added by a newer version) differs from nothing: it is stored.
 */
export function compareSettings(here: SharedSetting[], stored: Record<string, string | number | boolean>): { refuse: Difference[]; warn: Difference[]; missing: SharedSetting[] } {
  const refuse: Difference[] = [];
  const warn: Difference[] = [];
  const missing: SharedSetting[] = [];
  for (const setting of here) {
    if (!(setting.name in stored)) missing.push(setting);
    else if (stored[setting.name] !== setting.value) (setting.onDiffer === "refuse" ? refuse : warn).push({ setting, stored: stored[setting.name]! });
  }
  return { refuse, warn, missing };
}

/** The one line a refused start ends with: each setting, its value here and stored, and how to change it deliberately. */
export function refusal(differences: Difference[], queuePrefix: string, storedAt: Date): string {
  const each = differences.map((d) => `${d.setting.env} is ${String(d.setting.value)} here but ${String(d.stored)} for the other instances (${d.setting.why})`).join("; ");
  return (
    `this instance's settings differ from those of the deployment it joins (this database, queue prefix ${queuePrefix}, stored ${storedAt.toISOString()}): ${each}. ` +
    `Start every instance with the same values; to change them for all, stop the instances and start one with ATTESTO_RECONFIGURE=true (or serve --reconfigure), which stores its settings`
  );
}
