import { invalidArgument } from "../errors.js";

/** A user's traits: name -> values, for role templates ({{internal.<name>}}). */
export type Traits = Record<string, string[]>;

export const MAX_TRAITS = 32;
export const MAX_TRAIT_VALUES = 64;
export const MAX_TRAIT_VALUE_LENGTH = 256;
const TRAIT_NAME = /^[a-z][a-z0-9_.-]{0,62}$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Traits as stored: checked names and limits, each list without repeats (first kept). */
export function checkTraits(raw: Traits): Traits {
  const names = Object.keys(raw);
  if (names.length > MAX_TRAITS) throw invalidArgument("traits", `at most ${MAX_TRAITS} traits`);
  const out: Traits = {};
  for (const name of names) {
    if (!TRAIT_NAME.test(name)) throw invalidArgument(`traits.${name.slice(0, 64)}`, 'a trait name is a-z first, then a-z, 0-9, "_", ".", "-" (up to 63)');
    const values = raw[name]!;
    if (values.length > MAX_TRAIT_VALUES) throw invalidArgument(`traits.${name}`, `at most ${MAX_TRAIT_VALUES} values`);
    for (const v of values)
      if (v.length === 0 || v.length > MAX_TRAIT_VALUE_LENGTH || CONTROL.test(v))
        throw invalidArgument(`traits.${name}`, `each value is 1 to ${MAX_TRAIT_VALUE_LENGTH} characters, without control characters`);
    out[name] = [...new Set(values)];
  }
  return out;
}

const TEMPLATE = /^\{\{internal\.([a-z][a-z0-9_.-]{0,62})\}\}$/;

/**
 * A role's values with templates filled in from the user's traits: "{{internal.logins}}" becomes
 * the values of the trait "logins" (none when the user has no such trait); other values stay.
 * Only values that `accept` passes are kept, so a trait cannot smuggle in what the role's own
 * field would refuse (for SSH logins: a valid Unix user name).
 */
export function expandTemplates(values: readonly string[], traits: Traits, accept: (value: string) => boolean): string[] {
  const out: string[] = [];
  for (const v of values) {
    const template = TEMPLATE.exec(v);
    if (!template) out.push(v);
    else for (const t of traits[template[1]!] ?? []) if (accept(t)) out.push(t);
  }
  return out;
}
