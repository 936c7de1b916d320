import { ZxcvbnFactory } from "@zxcvbn-ts/core";
import * as common from "@zxcvbn-ts/language-common";
import { invalidArgument } from "../errors.js";

export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 128;

/** Length in Unicode code points; the password itself is never trimmed or normalized. */
export function passwordLength(password: string): number {
  let n = 0;
  for (const _ of password) n++;
  return n;
}

/** The cheap check that runs before anything else, including before any hashing. */
export function checkPasswordLength(password: string, field = "password"): void {
  const n = passwordLength(password);
  if (n < PASSWORD_MIN_LENGTH || n > PASSWORD_MAX_LENGTH)
    throw invalidArgument(field, `must be ${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters`, "PASSWORD_LENGTH");
}

/** Strength by zxcvbn with its common-password and common-word dictionaries. */
export class PasswordPolicy {
  private readonly zxcvbn: ZxcvbnFactory;

  constructor(private readonly minScore: number) {
    this.zxcvbn = new ZxcvbnFactory({
      dictionary: { ...common.dictionary },
      graphs: common.adjacencyGraphs,
      maxLength: PASSWORD_MAX_LENGTH,
    });
  }

  /** Throws INVALID_ARGUMENT for a password that is too short, too long, common or guessable. */
  check(password: string, userInputs: string[] = [], field = "password"): void {
    checkPasswordLength(password, field);
    const result = this.zxcvbn.check(password, userInputs.filter(Boolean));
    if (result.score < this.minScore)
      throw invalidArgument(field, "is too common or easy to guess; choose a longer, less predictable password", "PASSWORD_TOO_WEAK");
  }
}
